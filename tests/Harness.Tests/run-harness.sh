#!/usr/bin/env bash
# The real-process harness by hand (as root): host namespaces, a fabric, two coordinator processes on
# PostgreSQL (started like CI does, see .ci/postgres), an agent process per host, and the traffic
# probe. Each run's logs go to /tmp/replug-harness/RUN (kept when something failed).
#
#   tests/Harness.Tests/run-harness.sh                         every harness test, as CI runs them
#   tests/Harness.Tests/run-harness.sh --filter PartitionTests tests whose name contains the text
#   tests/Harness.Tests/run-harness.sh --repeat 3              the selection three times in a row
#   tests/Harness.Tests/run-harness.sh --random --seconds 1800 a randomized fault run of any length;
#                                                              prints its seed (--seed N replays it)
# Options: --keep-logs (keep every run's folder), --sqlite (no PostgreSQL: one shared SQLite file), --plain (remoting over plain TCP, not mutual TLS),
#          --production (the random run with the product's default timings instead of the fast ones).
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
filter="" repeat=1 random=0 seed="" seconds=300 timings=fast
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --random) random=1; shift ;;
    --seed) seed=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --keep-logs) export REPLUG_HARNESS_KEEP_LOGS=1; shift ;;
    --plain) export REPLUG_HARNESS_TLS=0; shift ;;
    --tls) shift ;; # the default
    --sqlite) export REPLUG_HARNESS_PERSISTENCE=sqlite; shift ;;
    --production) timings=production; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-harness.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "run-harness.sh: needs root (network namespaces, raw sockets, nftables)" >&2
  exit 2
fi
for tool in ip bridge nft; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run-harness.sh: needs '$tool' (apt-get install iproute2 nftables)" >&2; exit 2; }
done

cd "$root"
if [ "${REPLUG_HARNESS_PERSISTENCE:-}" != sqlite ]; then
  . .ci/postgres
  echo "PostgreSQL: $REPLUG_TEST_POSTGRES"
fi

if [ "$random" = 1 ]; then
  seed=${seed:-$(( (RANDOM << 15 | RANDOM) % 1000000 + 1 ))}
  echo "randomized fault run: seed $seed, $seconds s of faults, $timings timings"
  echo "replay: $0 --random --seed $seed --seconds $seconds$([ "$timings" = production ] && echo " --production")"
  dotnet build bench/Replug.Bench -c Release -v q -nologo >/dev/null
  exec dotnet bench/Replug.Bench/bin/Release/net10.0/Replug.Bench.dll harness-random \
    --seed "$seed" --seconds "$seconds" --timings "$timings" --verbose
fi

dotnet build tests/Harness.Tests -v q -nologo >/dev/null
status=0
for i in $(seq 1 "$repeat"); do
  [ "$repeat" = 1 ] || echo "==== run $i of $repeat"
  dotnet test tests/Harness.Tests --no-build --logger "console;verbosity=detailed" \
    ${filter:+--filter "FullyQualifiedName~$filter"} || status=1
done
exit $status
