#!/usr/bin/env bash
# Herald and NATS JetStream side by side on this machine: async publish of
# 16 B and 1 KiB events, consume + ack of 1 KiB events, publish-to-handler
# latency at 5,000 events/s, and the servers' peak memory. JetStream runs
# in its default mode (no fsync before acknowledging) and with
# sync_interval: always; Herald always fsyncs before acknowledging.
#
#   bench/compare-nats.sh [-rounds 3]
#
# It installs nats-server v2.15.2 and natscli v0.5.0 with go install when
# they are absent (for measuring only; they are never part of Herald),
# prints a table, and writes it with a chart into docs/benchmarks.md and
# docs/compare-nats.png.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/compare "$@"
