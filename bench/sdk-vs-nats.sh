#!/usr/bin/env bash
# Side by side on this machine: Herald's Go SDK (herald bench) against `herald serve`
# (gRPC, fsync before every acknowledgement) and NATS JetStream through
# `nats bench` (file storage, its default sync, which does not fsync
# before acknowledging). Rounds alternate Herald and NATS; each server
# starts on a fresh store for each workload.
#
#   bench/sdk-vs-nats.sh [ROUNDS]       # default 3
#
# Needs nats-server v2.15.2 and natscli v0.5.0 on PATH or in $(go env
# GOPATH)/bin (they are installed with go install when absent; only for
# measuring, never part of Herald).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
command -v nats-server >/dev/null || go install github.com/nats-io/nats-server/v2@v2.15.2
command -v nats >/dev/null || go install github.com/nats-io/natscli/nats@v0.5.0

work="$(mktemp -d)"
trap 'pkill -f "$work" || true; rm -rf "$work"' EXIT
go build -o "$work/herald" ./cmd/herald

pub_n=300000 consume_n=200000

herald_up() {
	rm -rf "$work/hd"
	"$work/herald" serve --data "$work/hd" --addr 127.0.0.1:7440 >"$work/herald.log" 2>&1 &
	for _ in $(seq 50); do curl -sf http://127.0.0.1:7440/healthz >/dev/null && return; sleep 0.1; done
	echo "herald did not start" >&2; exit 1
}
nats_up() {
	rm -rf "$work/nd"
	nats-server -js -sd "$work/nd" -p 4222 >"$work/nats.log" 2>&1 &
	for _ in $(seq 50); do nats --server nats://127.0.0.1:4222 account info >/dev/null 2>&1 && return; sleep 0.1; done
	echo "nats-server did not start" >&2; exit 1
}
down() { pkill -f "$work/herald serve" || true; pkill -f "nats-server -js -sd $work" || true; sleep 0.5; }
rate() { grep -oE '[0-9,]+ msgs/sec' | head -1 | tr -d ',' | awk '{print $1}'; }
jsonrate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["events_per_sec"]))'; }
jsonlat() { python3 -c 'import json,sys; l=json.load(sys.stdin)["latency_ms"]; print("p50 %.2fms p99 %.2fms p99.9 %.2fms" % (l["p50"], l["p99"], l["p999"]))'; }

for r in $(seq "$rounds"); do
	herald_up
	h=$("$work/herald" bench publish --server http://127.0.0.1:7440 --count $pub_n --size 1KiB --keys 0 --json | jsonrate); down
	nats_up
	n=$(nats --server nats://127.0.0.1:4222 bench js pub async --create --purge --storage=file --size=1024 --msgs=$pub_n --no-progress benchsubj 2>&1 | grep "stats:" | rate); down
	echo "round $r publish-async-1KiB herald $h nats $n"

	herald_up
	h=$("$work/herald" bench consume --server http://127.0.0.1:7440 --count $consume_n --size 1KiB --keys 1000 --consumers 64 --json | jsonrate); down
	nats_up
	nats --server nats://127.0.0.1:4222 bench js pub async --create --purge --storage=file --size=1024 --msgs=$consume_n --no-progress benchsubj >/dev/null 2>&1
	n=$(nats --server nats://127.0.0.1:4222 bench js fetch --msgs=$consume_n --no-progress 2>&1 | grep "stats:" | rate); down
	echo "round $r consume-ack-1KiB herald $h nats $n"

	herald_up
	l=$("$work/herald" bench pubsub --server http://127.0.0.1:7440 --rate 5000 --duration 20s --size 1KiB --json | jsonlat); down
	echo "round $r latency-5000/s herald $l"
done
