#!/usr/bin/env bash
# Builds the libFuzzer + AddressSanitizer targets from the project's own sources and runs each
# for SECONDS (default 60): `http` (the HTTP/1.1 request codec), `snapshot` (the HNSW
# snapshot loader), `json` (the metadata validator in Storage) and `forwarded` (client
# addresses from X-Forwarded-For behind trusted proxies), `jsonbody` (the gateway's strict
# request-body JSON parser) and `collections` (its member-by-member face with float arrays,
# base64 float32 embeddings, and the where/where_document filter language), and `sse` (the AI
# proxy's Server-Sent Events framer, read by read against the whole stream at once), and `etag`
# (the documents' If-Match / If-None-Match lists and the X-AIWriter-Read-After token), and `staticpath` (the static folder's path rules and
# Range parser), and `multipart` (the file uploads' multipart/form-data parser, whole against split).
# Usage: Fuzz/run.sh [SECONDS] [http|snapshot|json|forwarded|jsonbody|collections|sse|etag|staticpath|multipart|all]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
which=${2:-all}
mkdir -p Fuzz/bin Fuzz/corpus-http Fuzz/corpus-snapshot
failed=0
check_artifacts() {
  if compgen -G "Fuzz/bin/crash-*" >/dev/null || compgen -G "Fuzz/bin/leak-*" >/dev/null || compgen -G "Fuzz/bin/timeout-*" >/dev/null || compgen -G "Fuzz/bin/oom-*" >/dev/null; then
    # The input itself goes into the log (hex, first 8 KiB): a CI machine's Fuzz/bin/ is gone
    # when the run ends, and without the bytes the failure cannot be reproduced.
    echo "fuzz $1: failing input(s):"
    for f in Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*; do
      [ -e "$f" ] || continue
      echo "$f"; head -c 8192 "$f" | od -An -tx1 -v | tr -d ' \n'; echo
    done
    failed=1
  else
    echo "fuzz $1: no crash in ${seconds}s"
  fi
}
# fuzz_build MODULE OUTPUT ARGS…: compiles a libFuzzer + ASan target from the project's sources.
fuzz_build() {
  local module=$1 output=$2; shift 2
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$module" "$@" -o "$output" \
    2> >(grep -v "Cannot export local symbol" >&2)
}

# fuzz_run NAME BINARY CORPUS MAX_LEN DETECT_LEAKS: runs a built target for $seconds, then
# reports any failing input libFuzzer wrote into Fuzz/bin/.
fuzz_run() {
  rm -f Fuzz/bin/crash-* Fuzz/bin/leak-* Fuzz/bin/timeout-* Fuzz/bin/oom-*
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=$5 AIW_FUZZ_SEEDS="$3" "$2" -max_total_time="$seconds" -max_len="$4" \
    -artifact_prefix=Fuzz/bin/ -print_final_stats=1 "$3" 2>&1 \
    | grep -E "Done|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written|Fatal|INFO: -max_total_time" || true
  check_artifacts "$1"
}

run_http() {
sources=(Sources/Net/Buffers/ByteBuffer.swift Sources/Net/HTTP/HTTPMethod.swift Sources/Net/HTTP/HTTPStatus.swift
         Sources/Net/HTTP/HTTPParseError.swift Sources/Net/HTTP/HTTPServerLimits.swift Sources/Net/HTTP/PercentDecoding.swift
         Sources/Net/HTTP/HTTPFramingValidator.swift Sources/Net/HTTP/HTTPRequestParser.swift Sources/Net/HTTP/HTTPRequest.swift
         Sources/Net/HTTP/HTTPBodySink.swift)
fuzz_build Net Fuzz/bin/http-codec -I Sources/CHTTPParser -Xlinker -lhttp_parser "${sources[@]}" Fuzz/HTTPCodecFuzzer.swift
seed() { printf '%b' "$2" > "Fuzz/corpus-http/$1"; }
seed get '\x03GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Request-Id: x\r\n\r\n'
seed pipelined '\x05GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n'
seed chunked '\x01POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n'
seed smuggle '\x02POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed fold '\x04GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n'
seed expect '\x07PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok'
seed absolute '\x06GET http://h:80/p%20q?x HTTP/1.1\r\nHost: h:80\r\n\r\n'
seed streamed '\x09POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\nPOST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nwxyz'
fuzz_run http Fuzz/bin/http-codec Fuzz/corpus-http 4096 1
}

run_snapshot() {
kernels=$(mktemp -d)
mkdir -p "$kernels/VectorKernels"
cp Sources/VectorKernels/include/VectorKernels.h "$kernels/VectorKernels/"
printf 'module VectorKernels {\n  header "VectorKernels.h"\n  export *\n}\n' > "$kernels/VectorKernels/module.modulemap"
clang -O2 -fsanitize=fuzzer-no-link,address -c Sources/VectorKernels/kernels.c -I Sources/VectorKernels/include -o "$kernels/kernels.o"
fuzz_build VectorIndex Fuzz/bin/snapshot-loader -I "$kernels/VectorKernels" \
  $(find Sources/VectorIndex -name '*.swift') Fuzz/SnapshotLoaderFuzzer.swift "$kernels/kernels.o"
rm -rf "$kernels"
fuzz_run snapshot Fuzz/bin/snapshot-loader Fuzz/corpus-snapshot 65536 0
}

run_json() {
mkdir -p Fuzz/corpus-json
fuzz_build Storage Fuzz/bin/json-validator Sources/Storage/JSON/JSONObjectValidator.swift Fuzz/JSONValidatorFuzzer.swift
printf '%s' '{"a": [1, 2.5e-3, true, null, {"b": "\u00e9\ud83d\ude00"}], "c": -0}' > Fuzz/corpus-json/object
printf '%s' '{"tags":["x"],"n":1}' > Fuzz/corpus-json/small
fuzz_run json Fuzz/bin/json-validator Fuzz/corpus-json 2048 0
}

run_forwarded() {
mkdir -p Fuzz/corpus-forwarded
fuzz_build Gateway Fuzz/bin/forwarded-for Sources/Gateway/Services/ClientAddress/IPAddress.swift \
  Sources/Gateway/Services/ClientAddress/TrustedProxies.swift Fuzz/ForwardedForFuzzer.swift
printf '%b' '10.0.0.0/8,2001:db8::/32\n10.0.0.2\n1.1.1.1, 203.0.113.9\n10.0.0.5' > Fuzz/corpus-forwarded/chain
printf '%b' '::1,127.0.0.1/32\n::ffff:127.0.0.1\n[2001:db8::7]:443, 1.2.3.4:80\n' > Fuzz/corpus-forwarded/ports
printf '%b' '0.0.0.0/0\n8.8.8.8\ngarbage, 10.0.0.7,\n' > Fuzz/corpus-forwarded/garbage
fuzz_run forwarded Fuzz/bin/forwarded-for Fuzz/corpus-forwarded 1024 0
}

run_jsonbody() {
mkdir -p Fuzz/corpus-jsonbody
fuzz_build Gateway Fuzz/bin/json-body Sources/Gateway/HTTP/JSON/JSONValue.swift Sources/Gateway/HTTP/JSON/JSONParser.swift \
  Fuzz/JSONBodyFuzzer.swift
printf '%s' '{"name":"ci","role":"writer","rate":"5/s","burst":10,"meta":{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00"]}}' > Fuzz/corpus-jsonbody/key
printf '%s' '[{"c":1},{"c":"x\n"}]' > Fuzz/corpus-jsonbody/array
fuzz_run jsonbody Fuzz/bin/json-body Fuzz/corpus-jsonbody 4096 0
}

run_collections() {
mkdir -p Fuzz/corpus-collections
fuzz_build Gateway Fuzz/bin/collection-body Sources/Gateway/HTTP/JSON/JSONValue.swift Sources/Gateway/HTTP/JSON/JSONParser.swift \
  Sources/Gateway/HTTP/JSON/JSONWriter.swift Sources/Gateway/Features/Collections/CollectionError.swift \
  Sources/Gateway/Features/Collections/Records/Metadata.swift Sources/Gateway/Features/Collections/Records/RecordFilter.swift \
  Sources/Gateway/Features/Collections/Chroma/Base64Floats.swift Fuzz/CollectionBodyFuzzer.swift
printf '%s' '{"ids":["a","b"],"embeddings":[[0.1,-2.5e-3,3],[1e-40,0,1]],"n_results":10,"where":{"$and":[{"n":{"$gte":1}},{"s":{"$in":["x","y"]}}]}}' > Fuzz/corpus-collections/query
printf '%s' '{"$or":[{"b":true},{"f":{"$ne":2.5}},{"n":{"$nin":[1,2]}}],"$contains":"x"}' > Fuzz/corpus-collections/filter
printf '%s' 'AACAPwAAAEAAAEBA' > Fuzz/corpus-collections/base64
fuzz_run collections Fuzz/bin/collection-body Fuzz/corpus-collections 4096 0
}

run_sse() {
mkdir -p Fuzz/corpus-sse
fuzz_build Gateway Fuzz/bin/sse-framer Sources/Gateway/Features/AIProxy/Streaming/SSEFramer.swift Fuzz/SSEFramerFuzzer.swift
printf '%b' '\x03data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n' > Fuzz/corpus-sse/openai
printf '%b' '\x05event: message_start\r\ndata: {"a":1}\r\n\r\n: keepalive\r\n\r\ndata:x\rdata: y\r\r' > Fuzz/corpus-sse/crlf
fuzz_run sse Fuzz/bin/sse-framer Fuzz/corpus-sse 4096 0
}

run_etag() {
mkdir -p Fuzz/corpus-etag
fuzz_build Gateway Fuzz/bin/etag Sources/Gateway/HTTP/EntityTag.swift Sources/Storage/Postgres/WALPosition.swift Fuzz/EntityTagFuzzer.swift
printf '%s' '"12-3", W/"x", "y"' > Fuzz/corpus-etag/list
printf '%s' ' * ' > Fuzz/corpus-etag/any
printf '%s' '16/B374D848' > Fuzz/corpus-etag/wal
fuzz_run etag Fuzz/bin/etag Fuzz/corpus-etag 512 0
}

run_multipart() {
mkdir -p Fuzz/corpus-multipart
fuzz_build Gateway Fuzz/bin/multipart Sources/Net/HTTP/PercentDecoding.swift Sources/Gateway/Features/Files/MultipartFormParser.swift \
  Fuzz/MultipartFuzzer.swift
printf '%b' '\x05--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n\r\nx\r\n--b--\r\n' > Fuzz/corpus-multipart/form
printf '%b' '\x02preamble\r\n--b \t\r\nContent-Disposition: form-data; name=f; filename*=UTF-8%s%%C3%%A9\r\n\r\n\r\n--\r\n--b--' "''" > Fuzz/corpus-multipart/odd
fuzz_run multipart Fuzz/bin/multipart Fuzz/corpus-multipart 8192 0
}

run_staticpath() {
mkdir -p Fuzz/corpus-staticpath
fuzz_build Gateway Fuzz/bin/static-path Sources/Net/HTTP/PercentDecoding.swift Sources/Gateway/Features/StaticAssets/StaticPath.swift \
  Sources/Gateway/HTTP/ByteRange.swift Fuzz/StaticPathFuzzer.swift
printf '%s' '/css/%2e%2e/%252e%252e/a%00b/.git/x' > Fuzz/corpus-staticpath/traversal
printf '%s' 'bytes=0-499' > Fuzz/corpus-staticpath/range
printf '%s' 'bytes=-99999999999999999999' > Fuzz/corpus-staticpath/suffix
fuzz_run staticpath Fuzz/bin/static-path Fuzz/corpus-staticpath 1024 0
}

case "$which" in
  http) run_http ;;
  snapshot) run_snapshot ;;
  json) run_json ;;
  forwarded) run_forwarded ;;
  jsonbody) run_jsonbody ;;
  collections) run_collections ;;
  sse) run_sse ;;
  etag) run_etag ;;
  staticpath) run_staticpath ;;
  multipart) run_multipart ;;
  all) run_http; run_snapshot; run_json; run_forwarded; run_jsonbody; run_collections; run_sse; run_etag; run_staticpath; run_multipart ;;
  *) echo "usage: Fuzz/run.sh [SECONDS] [http|snapshot|json|forwarded|jsonbody|collections|sse|etag|staticpath|multipart|all]"; exit 2 ;;
esac
exit $failed
