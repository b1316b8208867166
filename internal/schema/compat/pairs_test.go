package compat

// pair is one schema evolution: old is the registered version, new the
// candidate. back lists the changes expected when new reads data written
// with old (BACKWARD), fwd when old reads data written with new (FORWARD),
// each as "rule@path". docs are extra instances for the semantic test.
type pair struct {
	name     string
	old, new string
	back     []string
	fwd      []string
	docs     []string
}

var pairs = []pair{
	// --- content models: open, closed, partially open ---
	{
		name: "open model: add an optional typed property",
		old:  `{"type":"object","properties":{"id":{"type":"string"}}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"},"phone":{"type":"string"}}}`,
		back: []string{"property_added_to_open_model@#/properties/phone"},
		docs: []string{`{"id":"a","phone":5}`, `{"id":"a","phone":"+1"}`},
	},
	{
		name: "closed model: add an optional typed property",
		old:  `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"},"phone":{"type":"string"}},"additionalProperties":false}`,
		fwd:  []string{"property_removed_from_closed_model@#/properties/phone"},
	},
	{
		name: "open model: add a property with the empty schema",
		old:  `{"type":"object","properties":{"id":{"type":"string"}}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"},"extra":{}}}`,
	},
	{
		name: "open model: remove a property",
		old:  `{"type":"object","properties":{"id":{"type":"string"},"age":{"type":"integer"}}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"}}}`,
		fwd:  []string{"property_added_to_open_model@#/properties/age"},
		docs: []string{`{"id":"x","age":3}`},
	},
	{
		name: "closed model: remove a property",
		old:  `{"type":"object","properties":{"id":{"type":"string"},"age":{"type":"integer"}},"additionalProperties":false}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		back: []string{"property_removed_from_closed_model@#/properties/age"},
	},
	{
		name: "close an open model",
		old:  `{"type":"object","properties":{"id":{"type":"string"}}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		back: []string{"additional_properties_narrowed@#/additionalProperties"},
		docs: []string{`{"id":"x","other":1}`},
	},
	{
		name: "partially open model: added property covered by additionalProperties",
		old:  `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":{"type":"string"}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"},"note":{"type":"string"}},"additionalProperties":{"type":"string"}}`,
		docs: []string{`{"id":"x","note":"n","z":"q"}`},
	},
	{
		name: "partially open model: added property not covered by additionalProperties",
		old:  `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":{"type":"string"}}`,
		new:  `{"type":"object","properties":{"id":{"type":"string"},"count":{"type":"integer"}},"additionalProperties":{"type":"string"}}`,
		back: []string{"property_added_to_partially_open_model@#/properties/count"},
		fwd:  []string{"property_removed_from_partially_open_model@#/properties/count"},
	},
	{
		name: "patternProperties: a new property the old pattern covered with another type",
		old:  `{"type":"object","patternProperties":{"^x_":{"type":"string"}},"additionalProperties":false}`,
		new:  `{"type":"object","properties":{"x_id":{"type":"integer"}},"additionalProperties":false}`,
		back: []string{"property_added_to_partially_open_model@#/properties/x_id", "additional_properties_narrowed@#/additionalProperties"},
		fwd:  []string{"property_removed_from_partially_open_model@#/properties/x_id"},
	},
	{
		name: "patternProperties narrowed",
		old:  `{"type":"object","patternProperties":{"^x_":{"type":["string","null"]}}}`,
		new:  `{"type":"object","patternProperties":{"^x_":{"type":"string"}}}`,
		back: []string{"pattern_properties_narrowed@#/patternProperties/^x_"},
		docs: []string{`{"x_a":null}`, `{"x_a":"s","y":1}`},
	},
	{
		name: "unevaluatedProperties false over allOf and $ref: add a property",
		old: `{"$defs":{"base":{"properties":{"id":{"type":"string"}},"required":["id"]}},
		       "allOf":[{"$ref":"#/$defs/base"}],"properties":{"a":{"type":"string"}},"unevaluatedProperties":false}`,
		new: `{"$defs":{"base":{"properties":{"id":{"type":"string"}},"required":["id"]}},
		       "allOf":[{"$ref":"#/$defs/base"}],"properties":{"a":{"type":"string"},"b":{"type":"integer"}},"unevaluatedProperties":false}`,
		fwd:  []string{"property_removed_from_closed_model@#/properties/b"},
		docs: []string{`{"id":"1","a":"x"}`, `{"id":"1","b":2}`},
	},
	{
		name: "unevaluatedProperties false: a property of the $ref'd base is not extra",
		old: `{"$defs":{"base":{"properties":{"id":{"type":"string"}}}},
		       "$ref":"#/$defs/base","properties":{"a":{"type":"string"}},"unevaluatedProperties":false}`,
		new: `{"$defs":{"base":{"properties":{"id":{"type":"string"}}}},
		       "$ref":"#/$defs/base","properties":{"a":{"type":"string"}},"unevaluatedProperties":false}`,
		docs: []string{`{"id":"1","a":"x"}`},
	},

	// --- required ---
	{
		name: "required added",
		old:  `{"type":"object","properties":{"email":{"type":"string"}}}`,
		new:  `{"type":"object","properties":{"email":{"type":"string"}},"required":["email"]}`,
		back: []string{"required_added@#/properties/email"},
		docs: []string{`{}`},
	},
	{
		name: "required added with a default is still incompatible",
		old:  `{"type":"object","properties":{"tier":{"type":"string"}},"additionalProperties":false}`,
		new:  `{"type":"object","properties":{"tier":{"type":"string","default":"free"}},"required":["tier"],"additionalProperties":false}`,
		back: []string{"required_added@#/properties/tier"},
	},
	{
		name: "required removed",
		old:  `{"type":"object","properties":{"email":{"type":"string"}},"required":["email"]}`,
		new:  `{"type":"object","properties":{"email":{"type":"string"}}}`,
		fwd:  []string{"required_added@#/properties/email"},
	},
	{
		name: "dependentRequired added",
		old:  `{"type":"object","properties":{"card":{"type":"string"},"cvv":{"type":"string"}}}`,
		new:  `{"type":"object","properties":{"card":{"type":"string"},"cvv":{"type":"string"}},"dependentRequired":{"card":["cvv"]}}`,
		back: []string{"dependent_required_added@#/dependentRequired/card"},
	},

	// --- types ---
	{
		name: "integer widened to number",
		old:  `{"type":"object","properties":{"qty":{"type":"integer"}}}`,
		new:  `{"type":"object","properties":{"qty":{"type":"number"}}}`,
		fwd:  []string{"type_narrowed@#/properties/qty"},
		docs: []string{`{"qty":2}`, `{"qty":2.0}`},
	},
	{
		name: "string changed to number",
		old:  `{"type":"string"}`,
		new:  `{"type":"number"}`,
		back: []string{"type_changed@#"},
		fwd:  []string{"type_changed@#"},
	},
	{
		name: "null removed from a type union",
		old:  `{"type":"object","properties":{"nick":{"type":["string","null"]}}}`,
		new:  `{"type":"object","properties":{"nick":{"type":"string"}}}`,
		back: []string{"type_narrowed@#/properties/nick"},
		docs: []string{`{"nick":null}`},
	},
	{
		name: "type array rewritten as an equivalent anyOf",
		old:  `{"type":["string","null"]}`,
		new:  `{"anyOf":[{"type":"string"},{"type":"null"}]}`,
		docs: []string{`null`, `"a"`},
	},
	{
		name: "true schema narrowed to a type",
		old:  `true`,
		new:  `{"type":"string"}`,
		back: []string{"type_narrowed@#"},
	},
	{
		name: "schema narrowed to false",
		old:  `{"type":"string"}`,
		new:  `false`,
		back: []string{"schema_rejects_everything@#"},
	},
	{
		name: "empty schema to true",
		old:  `{}`,
		new:  `true`,
	},

	// --- enum and const ---
	{
		name: "enum extended",
		old:  `{"type":"string","enum":["NEW","PAID"]}`,
		new:  `{"type":"string","enum":["NEW","PAID","SHIPPED"]}`,
		fwd:  []string{"enum_narrowed@#"},
	},
	{
		name: "numeric enum narrowed",
		old:  `{"type":"object","properties":{"priority":{"enum":[1,2,3]}}}`,
		new:  `{"type":"object","properties":{"priority":{"enum":[1,2]}}}`,
		back: []string{"enum_narrowed@#/properties/priority"},
		docs: []string{`{"priority":3}`},
	},
	{
		name: "numeric enum: 1.0 equals 1",
		old:  `{"enum":[1.0,2.5]}`,
		new:  `{"enum":[2.5,1]}`,
		docs: []string{`1`, `1.0`},
	},
	{
		name: "enum added",
		old:  `{"type":"string"}`,
		new:  `{"type":"string","enum":["EUR","USD"]}`,
		back: []string{"enum_added@#"},
		docs: []string{`"GBP"`},
	},
	{
		name: "const changed",
		old:  `{"const":"v1"}`,
		new:  `{"const":"v2"}`,
		back: []string{"const_changed@#"},
		fwd:  []string{"const_changed@#"},
	},
	{
		name: "const added",
		old:  `{"type":"string"}`,
		new:  `{"const":"v1"}`,
		back: []string{"const_added@#"},
	},
	{
		name: "writer enum proven by the reader's type and limits",
		old:  `{"enum":[1,2,3]}`,
		new:  `{"type":"integer","minimum":1}`,
		fwd:  []string{"enum_added@#"},
	},

	// --- strings ---
	{
		name: "maxLength decreased",
		old:  `{"type":"object","properties":{"name":{"type":"string","maxLength":10}}}`,
		new:  `{"type":"object","properties":{"name":{"type":"string","maxLength":5}}}`,
		back: []string{"max_length_decreased@#/properties/name"},
		docs: []string{`{"name":"abcdefgh"}`},
	},
	{
		name: "maxLength added and minLength added",
		old:  `{"type":"string"}`,
		new:  `{"type":"string","minLength":1,"maxLength":64}`,
		back: []string{"min_length_added@#", "max_length_added@#"},
	},
	{
		name: "minLength increased",
		old:  `{"type":"string","minLength":1}`,
		new:  `{"type":"string","minLength":3}`,
		back: []string{"min_length_increased@#"},
	},
	{
		name: "pattern changed",
		old:  `{"type":"string","pattern":"^[A-Z]{3}$"}`,
		new:  `{"type":"string","pattern":"^[A-Z]{2,3}$"}`,
		back: []string{"pattern_changed@#"},
		fwd:  []string{"pattern_changed@#"},
	},
	{
		name: "pattern added",
		old:  `{"type":"string"}`,
		new:  `{"type":"string","pattern":"^ord-"}`,
		back: []string{"pattern_added@#"},
	},
	{
		name: "format added",
		old:  `{"type":"string"}`,
		new:  `{"type":"string","format":"email"}`,
		back: []string{"format_added@#"},
	},
	{
		name: "format added over an enum with a value the format refuses",
		old:  `{"enum":["nobody","a@example.com"]}`,
		new:  `{"type":"string","format":"email"}`,
		back: []string{"format_added@#"},
		fwd:  []string{"enum_added@#"},
		docs: []string{`"nobody"`},
	},
	{
		name: "format added over an enum of values it accepts",
		old:  `{"enum":["a@example.com","b@example.com"]}`,
		new:  `{"type":"string","format":"email"}`,
		fwd:  []string{"enum_added@#"},
	},
	{
		name: "format changed",
		old:  `{"type":"string","format":"date"}`,
		new:  `{"type":"string","format":"date-time"}`,
		back: []string{"format_changed@#"},
		fwd:  []string{"format_changed@#"},
	},

	// --- numbers ---
	{
		name: "minimum increased",
		old:  `{"type":"number","minimum":0}`,
		new:  `{"type":"number","minimum":1}`,
		back: []string{"minimum_increased@#"},
		docs: []string{`0.5`, `0`},
	},
	{
		name: "minimum added",
		old:  `{"type":"integer"}`,
		new:  `{"type":"integer","minimum":0}`,
		back: []string{"minimum_added@#"},
	},
	{
		name: "maximum added",
		old:  `{"type":"object","properties":{"n":{"type":"number"}}}`,
		new:  `{"type":"object","properties":{"n":{"type":"number","maximum":10}}}`,
		back: []string{"maximum_added@#/properties/n"},
		docs: []string{`{"n":11}`},
	},
	{
		name: "maximum decreased",
		old:  `{"type":"number","maximum":100}`,
		new:  `{"type":"number","maximum":99.5}`,
		back: []string{"maximum_decreased@#"},
	},
	{
		name: "maximum turned exclusive",
		old:  `{"type":"number","maximum":100}`,
		new:  `{"type":"number","exclusiveMaximum":100}`,
		back: []string{"exclusive_maximum_decreased@#"},
		docs: []string{`100`},
	},
	{
		name: "exclusiveMinimum added",
		old:  `{"type":"number"}`,
		new:  `{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}`,
		back: []string{"exclusive_minimum_added@#", "exclusive_maximum_added@#"},
	},
	{
		name: "exclusiveMinimum raised",
		old:  `{"type":"number","exclusiveMinimum":0}`,
		new:  `{"type":"number","exclusiveMinimum":1}`,
		back: []string{"exclusive_minimum_increased@#"},
	},
	{
		name: "integer exclusiveMinimum 0 is minimum 1",
		old:  `{"type":"integer","exclusiveMinimum":0}`,
		new:  `{"type":"integer","minimum":1}`,
		docs: []string{`1`, `7`},
	},
	{
		name: "multipleOf changed",
		old:  `{"type":"number","multipleOf":0.01}`,
		new:  `{"type":"number","multipleOf":0.1}`,
		back: []string{"multiple_of_changed@#"},
		docs: []string{`0.05`, `0.1`},
	},
	{
		name: "multipleOf added",
		old:  `{"type":"number"}`,
		new:  `{"type":"number","multipleOf":5}`,
		back: []string{"multiple_of_added@#"},
		fwd:  nil,
	},

	// --- nested objects and arrays ---
	{
		name: "nested property type changed",
		old:  `{"type":"object","properties":{"address":{"type":"object","properties":{"zip":{"type":"string"}}}}}`,
		new:  `{"type":"object","properties":{"address":{"type":"object","properties":{"zip":{"type":"integer"}}}}}`,
		back: []string{"type_changed@#/properties/address/properties/zip"},
		fwd:  []string{"type_changed@#/properties/address/properties/zip"},
		docs: []string{`{"address":{"zip":"12345"}}`, `{"address":{}}`},
	},
	{
		name: "array items widened",
		old:  `{"type":"object","properties":{"scores":{"type":"array","items":{"type":"integer"}}}}`,
		new:  `{"type":"object","properties":{"scores":{"type":"array","items":{"type":"number"}}}}`,
		fwd:  []string{"type_narrowed@#/properties/scores/items"},
		docs: []string{`{"scores":[1,2,3]}`, `{"scores":[]}`},
	},
	{
		name: "minItems increased and maxItems decreased",
		old:  `{"type":"array","minItems":1,"maxItems":10}`,
		new:  `{"type":"array","minItems":2,"maxItems":5}`,
		back: []string{"min_items_increased@#", "max_items_decreased@#"},
	},
	{
		name: "minItems and maxItems added",
		old:  `{"type":"array"}`,
		new:  `{"type":"array","minItems":1,"maxItems":3}`,
		back: []string{"min_items_added@#", "max_items_added@#"},
	},
	{
		name: "uniqueItems added",
		old:  `{"type":"array","items":{"type":"string"}}`,
		new:  `{"type":"array","items":{"type":"string"},"uniqueItems":true}`,
		back: []string{"unique_items_added@#"},
		docs: []string{`["a","a"]`},
	},
	{
		name: "prefixItems: item added to an open tuple",
		old:  `{"type":"array","prefixItems":[{"type":"string"}]}`,
		new:  `{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]}`,
		back: []string{"item_added_to_open_model@#/prefixItems/1"},
		docs: []string{`["a","b"]`, `["a",1]`},
	},
	{
		name: "prefixItems: item removed from a closed tuple",
		old:  `{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}`,
		new:  `{"type":"array","prefixItems":[{"type":"string"}],"items":false}`,
		back: []string{"item_removed_from_closed_model@#/items"},
		docs: []string{`["a",1]`, `["a"]`},
	},
	{
		name: "items closed after the tuple",
		old:  `{"type":"array","prefixItems":[{"type":"string"}]}`,
		new:  `{"type":"array","prefixItems":[{"type":"string"}],"items":false}`,
		back: []string{"additional_items_narrowed@#/items"},
	},
	{
		name: "draft-07 tuple items and additionalItems",
		old:  `{"$schema":"http://json-schema.org/draft-07/schema#","type":"array","items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`,
		new:  `{"$schema":"http://json-schema.org/draft-07/schema#","type":"array","items":[{"type":"string"}],"additionalItems":{"type":"number"}}`,
		fwd:  []string{"type_narrowed@#/additionalItems"},
		docs: []string{`["a",1,2]`},
	},

	// --- unions ---
	{
		name: "anyOf branch removed",
		old:  `{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}`,
		new:  `{"anyOf":[{"type":"string"},{"type":"integer"}]}`,
		back: []string{"sum_type_narrowed@#/anyOf"},
		docs: []string{`null`, `1`, `"s"`},
	},
	{
		name: "oneOf with overlapping branches",
		old:  `{"type":"integer"}`,
		new:  `{"oneOf":[{"type":"integer"},{"type":"number"}]}`,
		back: []string{"one_of_ambiguous@#/oneOf"},
		fwd:  []string{"type_narrowed@#"},
		docs: []string{`3`},
	},
	{
		name: "oneOf with a const discriminator gains a branch",
		old: `{"oneOf":[
		  {"type":"object","properties":{"kind":{"const":"card"},"last4":{"type":"string"}},"required":["kind"]},
		  {"type":"object","properties":{"kind":{"const":"iban"},"iban":{"type":"string"}},"required":["kind"]}]}`,
		new: `{"oneOf":[
		  {"type":"object","properties":{"kind":{"const":"card"},"last4":{"type":"string"}},"required":["kind"]},
		  {"type":"object","properties":{"kind":{"const":"iban"},"iban":{"type":"string"}},"required":["kind"]},
		  {"type":"object","properties":{"kind":{"const":"wallet"}},"required":["kind"]}]}`,
		fwd:  []string{"sum_type_narrowed@#/oneOf"},
		docs: []string{`{"kind":"card","last4":"1234"}`, `{"kind":"iban"}`},
	},
	{
		name: "oneOf branches reordered",
		old: `{"oneOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
		       {"type":"object","properties":{"b":{"type":"integer"}},"required":["b"]}]}`,
		new: `{"oneOf":[{"type":"object","properties":{"b":{"type":"integer"}},"required":["b"]},
		       {"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}]}`,
		docs: []string{`{"a":"x"}`, `{"b":1}`},
	},
	{
		name: "writer anyOf is split per branch",
		old:  `{"anyOf":[{"type":"string","maxLength":3},{"type":"integer","maximum":10}]}`,
		new:  `{"type":["string","integer"],"maxLength":5,"maximum":20}`,
		fwd:  []string{"sum_type_narrowed@#/anyOf", "sum_type_narrowed@#/anyOf"},
		docs: []string{`"abc"`, `10`},
	},

	// --- $ref, recursion, draft-07 ---
	{
		name: "change behind a local $ref",
		old:  `{"$defs":{"money":{"type":"number"}},"type":"object","properties":{"price":{"$ref":"#/$defs/money"}}}`,
		new:  `{"$defs":{"money":{"type":"integer"}},"type":"object","properties":{"price":{"$ref":"#/$defs/money"}}}`,
		back: []string{"type_narrowed@#/properties/price"},
		docs: []string{`{"price":1.25}`},
	},
	{
		name: "$ref to an $anchor",
		old:  `{"$defs":{"m":{"$anchor":"money","type":"number"}},"type":"object","properties":{"p":{"$ref":"#money"}}}`,
		new:  `{"$defs":{"m":{"$anchor":"money","type":"integer"}},"type":"object","properties":{"p":{"$ref":"#money"}}}`,
		back: []string{"type_narrowed@#/properties/p"},
		docs: []string{`{"p":2.5}`},
	},
	{
		name: "$ref into an embedded resource with its own $id",
		old: `{"$id":"https://example.com/order.json","type":"object","properties":{"item":{"$ref":"item.json"}},
		       "$defs":{"item":{"$id":"item.json","type":"object","properties":{"sku":{"$ref":"#/$defs/sku"}},"$defs":{"sku":{"type":"string"}}}}}`,
		new: `{"$id":"https://example.com/order.json","type":"object","properties":{"item":{"$ref":"item.json"}},
		       "$defs":{"item":{"$id":"item.json","type":"object","properties":{"sku":{"$ref":"#/$defs/sku"}},"$defs":{"sku":{"type":"string","maxLength":10}}}}}`,
		back: []string{"max_length_added@#/properties/item/properties/sku"},
		docs: []string{`{"item":{"sku":"ABCDEFGHIJKLMNOP"}}`},
	},
	{
		name: "draft-07 definitions and $ref",
		old: `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"id":{"type":"string","maxLength":36}},
		       "type":"object","properties":{"orderId":{"$ref":"#/definitions/id","maxLength":1}}}`,
		new: `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"id":{"type":"string","maxLength":20}},
		       "type":"object","properties":{"orderId":{"$ref":"#/definitions/id"}}}`,
		back: []string{"max_length_decreased@#/properties/orderId"},
		docs: []string{`{"orderId":"0123456789012345678901234"}`},
	},
	{
		name: "recursive schema: change inside the recursion",
		old: `{"$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},
		       "children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`,
		new: `{"$defs":{"node":{"type":"object","properties":{"name":{"type":"string","maxLength":8},
		       "children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`,
		back: []string{"max_length_added@#/properties/name", "max_length_added@#/properties/children/items/properties/name"},
		docs: []string{`{"name":"root","children":[{"name":"averyverylongname"}]}`},
	},

	// --- unsupported keywords ---
	{
		name: "not unchanged",
		old:  `{"type":"string","not":{"const":"admin"}}`,
		new:  `{"type":"string","not":{"const":"admin"},"description":"a user name"}`,
		docs: []string{`"bob"`},
	},
	{
		name: "not changed",
		old:  `{"type":"string","not":{"const":"admin"}}`,
		new:  `{"type":"string","not":{"const":"root"}}`,
		back: []string{"unsupported_keyword_changed@#/not"},
		fwd:  []string{"unsupported_keyword_changed@#/not"},
	},
	{
		name: "if/then/else added",
		old:  `{"type":"object","properties":{"country":{"type":"string"},"zip":{"type":"string"}}}`,
		new: `{"type":"object","properties":{"country":{"type":"string"},"zip":{"type":"string"}},
		       "if":{"properties":{"country":{"const":"US"}}},"then":{"required":["zip"]}}`,
		back: []string{"unsupported_keyword_changed@#/if"},
	},
	{
		name: "remote $ref unchanged",
		old:  `{"type":"object","properties":{"money":{"$ref":"https://schemas.example.com/money.json"}}}`,
		new:  `{"type":"object","properties":{"money":{"$ref":"https://schemas.example.com/money.json"}}}`,
	},
	{
		name: "remote $ref changed",
		old:  `{"type":"object","properties":{"money":{"$ref":"https://schemas.example.com/money-v1.json"}}}`,
		new:  `{"type":"object","properties":{"money":{"$ref":"https://schemas.example.com/money-v2.json"}}}`,
		back: []string{"unsupported_keyword_changed@#/properties/money/$ref"},
		fwd:  []string{"unsupported_keyword_changed@#/properties/money/$ref"},
	},
	{
		name: "dependentSchemas added",
		old:  `{"type":"object"}`,
		new:  `{"type":"object","dependentSchemas":{"card":{"required":["cvv"]}}}`,
		back: []string{"unsupported_keyword_changed@#/dependentSchemas/card"},
	},

	// --- other object keywords ---
	{
		name: "propertyNames added",
		old:  `{"type":"object"}`,
		new:  `{"type":"object","propertyNames":{"maxLength":8}}`,
		back: []string{"property_names_added@#/propertyNames"},
		docs: []string{`{"averyverylongname":1}`},
	},
	{
		name: "propertyNames narrowed",
		old:  `{"type":"object","propertyNames":{"maxLength":16}}`,
		new:  `{"type":"object","propertyNames":{"maxLength":8}}`,
		back: []string{"property_names_narrowed@#/propertyNames"},
	},
	{
		name: "maxProperties added, minProperties increased",
		old:  `{"type":"object","minProperties":1}`,
		new:  `{"type":"object","minProperties":2,"maxProperties":5}`,
		back: []string{"min_properties_increased@#", "max_properties_added@#"},
	},
	{
		name: "minProperties added, maxProperties decreased",
		old:  `{"type":"object","maxProperties":5}`,
		new:  `{"type":"object","minProperties":1,"maxProperties":4}`,
		back: []string{"min_properties_added@#", "max_properties_decreased@#"},
	},

	// --- the overview's UserRegistered v1 -> v2 (phone added) ---
	{
		name: "UserRegistered v1 to v2, open model",
		old: `{"type":"object","properties":{"userId":{"type":"string"},"email":{"type":"string","format":"email"},
		       "name":{"type":"string"}},"required":["userId","email","name"]}`,
		new: `{"type":"object","properties":{"userId":{"type":"string"},"email":{"type":"string","format":"email"},
		       "name":{"type":"string"},"phone":{"type":"string"}},"required":["userId","email","name"]}`,
		back: []string{"property_added_to_open_model@#/properties/phone"},
		docs: []string{`{"userId":"u1","email":"a@example.com","name":"Alice"}`},
	},
	{
		name: "UserRegistered v1 to v2, closed model",
		old: `{"type":"object","properties":{"userId":{"type":"string"},"email":{"type":"string","format":"email"},
		       "name":{"type":"string"}},"required":["userId","email","name"],"additionalProperties":false}`,
		new: `{"type":"object","properties":{"userId":{"type":"string"},"email":{"type":"string","format":"email"},
		       "name":{"type":"string"},"phone":{"type":"string"}},"required":["userId","email","name"],"additionalProperties":false}`,
		fwd:  []string{"property_removed_from_closed_model@#/properties/phone"},
		docs: []string{`{"userId":"u1","email":"a@example.com","name":"Alice"}`},
	},
}
