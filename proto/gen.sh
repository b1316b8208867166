#!/usr/bin/env bash
# Regenerates the Go code of Herald's protobuf API:
#   proto/herald/v1/herald.proto
#     -> internal/rpc/heraldv1/herald.pb.go                  (protoc-gen-go)
#     -> internal/rpc/heraldv1/heraldv1connect/herald.connect.go (protoc-gen-connect-go)
#
# The generated files are committed, so building Herald needs none of this.
# Run it after changing a .proto file, from anywhere:
#
#   proto/gen.sh            # writes into the repository
#   proto/gen.sh DIR        # writes the same tree under DIR (used by
#                           # internal/rpc/gen_test.go to detect drift)
#
# Needs protoc with the well-known types (Debian: apt-get install
# protobuf-compiler). The two plugins are not taken from PATH: they are
# built from the versions go.mod pins (its "tool" block), so everyone
# generates byte-identical code. To move them, `go get -tool` a new
# version of google.golang.org/protobuf or connectrpc.com/connect.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root}"
module="github.com/heraldevents/herald"

command -v protoc >/dev/null || { echo "gen.sh: protoc not found; install it (Debian: apt-get install protobuf-compiler)" >&2; exit 1; }

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/" \
	google.golang.org/protobuf/cmd/protoc-gen-go \
	connectrpc.com/connect/cmd/protoc-gen-connect-go)

mkdir -p "$out"
cd "$root/proto"
protoc \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-connect-go="$bin/protoc-gen-connect-go" \
	--go_out="$out" --go_opt=module="$module" \
	--connect-go_out="$out" --connect-go_opt=module="$module" \
	herald/v1/herald.proto
