#!/usr/bin/env bash
# Builds the libFuzzer + AddressSanitizer targets from the project's own sources and runs each
# for SECONDS (default 60): `http` (the HTTP/1.1 request codec), `snapshot` (the HNSW
# snapshot loader), `json` (the metadata validator in Storage) and `forwarded` (client
# addresses from X-Forwarded-For behind trusted proxies).
# Usage: Fuzz/run.sh [SECONDS] [http|snapshot|json|forwarded|all]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
which=${2:-all}
mkdir -p Fuzz/bin Fuzz/corpus-http Fuzz/corpus-snapshot
failed=0
check_artifacts() {
  if compgen -G "Fuzz/bin/crash-*" >/dev/null || compgen -G "Fuzz/bin/leak-*" >/dev/null || compgen -G "Fuzz/bin/timeout-*" >/dev/null || compgen -G "Fuzz/bin/oom-*" >/dev/null; then
    echo "fuzzer found a failing input:"; ls Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-* 2>/dev/null; failed=1
  else
    echo "fuzz $1: no crash in ${seconds}s"
  fi
}
run_http() {
sources=(Sources/Net/Buffers/ByteBuffer.swift Sources/Net/HTTP/HTTPMethod.swift Sources/Net/HTTP/HTTPStatus.swift
         Sources/Net/HTTP/HTTPParseError.swift Sources/Net/HTTP/HTTPServerLimits.swift Sources/Net/HTTP/PercentDecoding.swift
         Sources/Net/HTTP/HTTPFramingValidator.swift Sources/Net/HTTP/HTTPRequestParser.swift Sources/Net/HTTP/HTTPRequest.swift)
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Net -I Sources/CHTTPParser \
  -Xlinker -lhttp_parser "${sources[@]}" Fuzz/HTTPCodecFuzzer.swift -o Fuzz/bin/http-codec 2> >(grep -v "Cannot export local symbol" >&2)
seed() { printf '%b' "$2" > "Fuzz/corpus-http/$1"; }
seed get '\x03GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Request-Id: x\r\n\r\n'
seed pipelined '\x05GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n'
seed chunked '\x01POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n'
seed smuggle '\x02POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed fold '\x04GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n'
seed expect '\x07PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok'
seed absolute '\x06GET http://h:80/p%20q?x HTTP/1.1\r\nHost: h:80\r\n\r\n'
rm -f Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 Fuzz/bin/http-codec -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=Fuzz/bin/ \
  -print_final_stats=1 Fuzz/corpus-http 2>&1 | grep -E "Done|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written|crash|INFO: -max_total_time" || true
# libFuzzer writes crash-*/leak-* files into Fuzz/bin/ when it finds something.
check_artifacts http
}

run_snapshot() {
kernels=$(mktemp -d)
mkdir -p "$kernels/VectorKernels"
cp Sources/VectorKernels/include/VectorKernels.h "$kernels/VectorKernels/"
printf 'module VectorKernels {\n  header "VectorKernels.h"\n  export *\n}\n' > "$kernels/VectorKernels/module.modulemap"
clang -O2 -fsanitize=fuzzer-no-link,address -c Sources/VectorKernels/kernels.c -I Sources/VectorKernels/include -o "$kernels/kernels.o"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name VectorIndex -I "$kernels/VectorKernels" \
  $(find Sources/VectorIndex -name '*.swift') Fuzz/SnapshotLoaderFuzzer.swift "$kernels/kernels.o" -o Fuzz/bin/snapshot-loader \
  2> >(grep -v "Cannot export local symbol" >&2)
rm -rf "$kernels"
rm -f Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 AIW_FUZZ_SEEDS=Fuzz/corpus-snapshot Fuzz/bin/snapshot-loader \
  -max_total_time="$seconds" -max_len=65536 -artifact_prefix=Fuzz/bin/ -print_final_stats=1 Fuzz/corpus-snapshot 2>&1 \
  | grep -E "Done|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" || true
check_artifacts snapshot
}

run_json() {
mkdir -p Fuzz/corpus-json
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Storage \
  Sources/Storage/JSON/JSONObjectValidator.swift Fuzz/JSONValidatorFuzzer.swift -o Fuzz/bin/json-validator \
  2> >(grep -v "Cannot export local symbol" >&2)
printf '%s' '{"a": [1, 2.5e-3, true, null, {"b": "\u00e9\ud83d\ude00"}], "c": -0}' > Fuzz/corpus-json/object
printf '%s' '{"tags":["x"],"n":1}' > Fuzz/corpus-json/small
rm -f Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 Fuzz/bin/json-validator -max_total_time="$seconds" -max_len=2048 \
  -artifact_prefix=Fuzz/bin/ -print_final_stats=1 Fuzz/corpus-json 2>&1 \
  | grep -E "Done|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written|Fatal" || true
check_artifacts json
}

run_forwarded() {
mkdir -p Fuzz/corpus-forwarded
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Gateway \
  Sources/Gateway/ClientAddress/IPAddress.swift Sources/Gateway/ClientAddress/TrustedProxies.swift \
  Fuzz/ForwardedForFuzzer.swift -o Fuzz/bin/forwarded-for 2> >(grep -v "Cannot export local symbol" >&2)
printf '%b' '10.0.0.0/8,2001:db8::/32\n10.0.0.2\n1.1.1.1, 203.0.113.9\n10.0.0.5' > Fuzz/corpus-forwarded/chain
printf '%b' '::1,127.0.0.1/32\n::ffff:127.0.0.1\n[2001:db8::7]:443, 1.2.3.4:80\n' > Fuzz/corpus-forwarded/ports
printf '%b' '0.0.0.0/0\n8.8.8.8\ngarbage, 10.0.0.7,\n' > Fuzz/corpus-forwarded/garbage
rm -f Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 Fuzz/bin/forwarded-for -max_total_time="$seconds" -max_len=1024 \
  -artifact_prefix=Fuzz/bin/ -print_final_stats=1 Fuzz/corpus-forwarded 2>&1 \
  | grep -E "Done|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written|Fatal" || true
check_artifacts forwarded
}

case "$which" in
  http) run_http ;;
  snapshot) run_snapshot ;;
  json) run_json ;;
  forwarded) run_forwarded ;;
  all) run_http; run_snapshot; run_json; run_forwarded ;;
  *) echo "usage: Fuzz/run.sh [SECONDS] [http|snapshot|json|forwarded|all]"; exit 2 ;;
esac
exit $failed
