package compat

// Rule identifiers. They are part of Herald's API: the registry returns them
// in Change.Rule and docs/schemas.md explains each one. Never rename one.
const (
	RuleSchemaRejectsEverything = "schema_rejects_everything"

	RuleTypeNarrowed = "type_narrowed"
	RuleTypeChanged  = "type_changed"

	RuleEnumAdded    = "enum_added"
	RuleEnumNarrowed = "enum_narrowed"
	RuleConstAdded   = "const_added"
	RuleConstChanged = "const_changed"

	RuleMinimumAdded              = "minimum_added"
	RuleMinimumIncreased          = "minimum_increased"
	RuleMaximumAdded              = "maximum_added"
	RuleMaximumDecreased          = "maximum_decreased"
	RuleExclusiveMinimumAdded     = "exclusive_minimum_added"
	RuleExclusiveMinimumIncreased = "exclusive_minimum_increased"
	RuleExclusiveMaximumAdded     = "exclusive_maximum_added"
	RuleExclusiveMaximumDecreased = "exclusive_maximum_decreased"
	RuleMultipleOfAdded           = "multiple_of_added"
	RuleMultipleOfChanged         = "multiple_of_changed"

	RuleMinLengthAdded     = "min_length_added"
	RuleMinLengthIncreased = "min_length_increased"
	RuleMaxLengthAdded     = "max_length_added"
	RuleMaxLengthDecreased = "max_length_decreased"
	RulePatternAdded       = "pattern_added"
	RulePatternChanged     = "pattern_changed"
	RuleFormatAdded        = "format_added"
	RuleFormatChanged      = "format_changed"

	RulePropertyAddedToOpenModel              = "property_added_to_open_model"
	RulePropertyAddedToPartiallyOpenModel     = "property_added_to_partially_open_model"
	RulePropertyRemovedFromClosedModel        = "property_removed_from_closed_model"
	RulePropertyRemovedFromPartiallyOpenModel = "property_removed_from_partially_open_model"
	RuleAdditionalPropertiesNarrowed          = "additional_properties_narrowed"
	RulePatternPropertiesNarrowed             = "pattern_properties_narrowed"
	RuleRequiredAdded                         = "required_added"
	RuleDependentRequiredAdded                = "dependent_required_added"
	RuleMinPropertiesAdded                    = "min_properties_added"
	RuleMinPropertiesIncreased                = "min_properties_increased"
	RuleMaxPropertiesAdded                    = "max_properties_added"
	RuleMaxPropertiesDecreased                = "max_properties_decreased"
	RulePropertyNamesAdded                    = "property_names_added"
	RulePropertyNamesNarrowed                 = "property_names_narrowed"

	RuleItemAddedToOpenModel       = "item_added_to_open_model"
	RuleItemRemovedFromClosedModel = "item_removed_from_closed_model"
	RuleAdditionalItemsNarrowed    = "additional_items_narrowed"
	RuleMinItemsAdded              = "min_items_added"
	RuleMinItemsIncreased          = "min_items_increased"
	RuleMaxItemsAdded              = "max_items_added"
	RuleMaxItemsDecreased          = "max_items_decreased"
	RuleUniqueItemsAdded           = "unique_items_added"

	RuleSumTypeNarrowed = "sum_type_narrowed"
	RuleOneOfAmbiguous  = "one_of_ambiguous"

	RuleUnsupportedKeywordChanged = "unsupported_keyword_changed"
	RuleRecursionNotAnalysable    = "recursion_not_analysable"
	RuleAnalysisLimitExceeded     = "analysis_limit_exceeded"
)

// Rules lists every rule identifier, in the order docs/schemas.md explains them.
var Rules = []string{
	RuleSchemaRejectsEverything,
	RuleTypeNarrowed, RuleTypeChanged,
	RuleEnumAdded, RuleEnumNarrowed, RuleConstAdded, RuleConstChanged,
	RuleMinimumAdded, RuleMinimumIncreased, RuleMaximumAdded, RuleMaximumDecreased,
	RuleExclusiveMinimumAdded, RuleExclusiveMinimumIncreased, RuleExclusiveMaximumAdded,
	RuleExclusiveMaximumDecreased, RuleMultipleOfAdded, RuleMultipleOfChanged,
	RuleMinLengthAdded, RuleMinLengthIncreased, RuleMaxLengthAdded, RuleMaxLengthDecreased,
	RulePatternAdded, RulePatternChanged, RuleFormatAdded, RuleFormatChanged,
	RulePropertyAddedToOpenModel, RulePropertyAddedToPartiallyOpenModel,
	RulePropertyRemovedFromClosedModel, RulePropertyRemovedFromPartiallyOpenModel,
	RuleAdditionalPropertiesNarrowed, RulePatternPropertiesNarrowed, RuleRequiredAdded,
	RuleDependentRequiredAdded, RuleMinPropertiesAdded, RuleMinPropertiesIncreased,
	RuleMaxPropertiesAdded, RuleMaxPropertiesDecreased, RulePropertyNamesAdded, RulePropertyNamesNarrowed,
	RuleItemAddedToOpenModel, RuleItemRemovedFromClosedModel, RuleAdditionalItemsNarrowed,
	RuleMinItemsAdded, RuleMinItemsIncreased, RuleMaxItemsAdded, RuleMaxItemsDecreased, RuleUniqueItemsAdded,
	RuleSumTypeNarrowed, RuleOneOfAmbiguous,
	RuleUnsupportedKeywordChanged, RuleRecursionNotAnalysable, RuleAnalysisLimitExceeded,
}
