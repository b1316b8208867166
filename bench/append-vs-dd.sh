#!/usr/bin/env bash
# Measures in-process appends with fsync before ack against the disk's
# sequential write bandwidth (dd ... conv=fdatasync), alternating the two
# for ROUNDS rounds on the same disk, and prints the medians and the ratio.
#
#   bench/append-vs-dd.sh [ROUNDS]      (default 5; run from the repository root)
set -euo pipefail
rounds=${1:-5}
dir=${TMPDIR:-/tmp}
go test -c -o "$dir/herald-log.test" ./internal/log >/dev/null
dd_mb=(); append_mb=(); append_ev=(); small_ev=()
for r in $(seq "$rounds"); do
	mb=$(dd if=/dev/zero of="$dir/herald-dd.tmp" bs=1M count=1024 conv=fdatasync 2>&1 | awk '/copied/ {v=$(NF-1); u=$NF; if (u=="GB/s") v*=1000; if (u=="kB/s") v/=1000; print v}')
	rm -f "$dir/herald-dd.tmp"
	dd_mb+=("$mb")
	out=$(cd "$dir" && ./herald-log.test -test.run '^$' -test.bench 'Append/size=(1024|100)/publishers=64/batch=16/partitions=1$' -test.benchtime 300000x)
	append_mb+=("$(echo "$out" | awk '/size=1024/ {for (i=1;i<=NF;i++) if ($i=="MB/s") print $(i-1)}')")
	append_ev+=("$(echo "$out" | awk '/size=1024/ {for (i=1;i<=NF;i++) if ($i=="events/s") print $(i-1)}')")
	small_ev+=("$(echo "$out" | awk '/size=100\// {for (i=1;i<=NF;i++) if ($i=="events/s") print $(i-1)}')")
	echo "round $r: dd ${dd_mb[-1]} MB/s | 1 KiB append ${append_mb[-1]} MB/s (${append_ev[-1]} events/s) | 100 B append ${small_ev[-1]} events/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
md=$(median "${dd_mb[@]}"); ma=$(median "${append_mb[@]}")
echo "median: dd $md MB/s; 1 KiB append $ma MB/s ($(median "${append_ev[@]}") events/s) = $(awk -v a="$ma" -v d="$md" 'BEGIN {printf "%.0f%%", 100*a/d}') of dd; 100 B append $(median "${small_ev[@]}") events/s"
