# Sourced by scripts/bench while sessionboard runs at $base: the hydrate wasm's size, and what a
# first and a repeat visit of the page transfer (as a browser asking for br/gzip would).

wasm=$(find "$site/pkg" -maxdepth 1 -name "*.wasm" 2>/dev/null | head -n1 || true)
if [ -z "$wasm" ]; then
  say "no site in $site (cargo leptos build --release): skipping the wasm and transfer figures"
  return 0
fi
record wasm_raw "$(stat -c %s "$wasm")"
record wasm_gzip "$(gzip -9c "$wasm" | wc -c)"
[ -f "$wasm.br" ] && record wasm_br "$(stat -c %s "$wasm.br")"

# GET as a browser would: prints "header-bytes body-bytes" as transferred (still compressed) and
# leaves the headers in $dir/headers.
fetch() {
  curl -sS -o /dev/null -D "$dir/headers" -w '%{size_header} %{size_download}\n' \
    -H 'Accept-Encoding: br, gzip' "$@"
}
header() { tr -d '\r' <"$dir/headers" | awk -v h="$1" 'tolower($1) == h":" { $1 = ""; sub(/^ /, ""); print; exit }'; }

page_html=$(curl -sS --compressed -H 'Accept: text/html' "$base/")
assets=$(echo "$page_html" | grep -oE '/(pkg/[^"'"'"' )]+|favicon\.svg)' | sort -u)
first=0
repeat=0
read -r h b < <(fetch -H 'Accept: text/html' "$base/")
first=$((first + h + b))
repeat=$((repeat + h + b))
record page_encoding "$(header content-encoding)"
record page_cache "$(header cache-control)"
for asset in $assets; do
  read -r h b < <(fetch "$base$asset")
  first=$((first + h + b))
  cache=$(header cache-control)
  case "$asset" in
    *.wasm) record wasm_name "${asset##*/}"; record wasm_encoding "$(header content-encoding)"
            record wasm_cache "$cache"; record wasm_sent $((h + b)) ;;
  esac
  # A browser keeps an immutable file; anything else it asks again about, conditionally.
  case "$cache" in
    *immutable*) ;;
    *)
      conditional=()
      etag=$(header etag); modified=$(header last-modified)
      [ -n "$etag" ] && conditional+=(-H "If-None-Match: $etag")
      [ -n "$modified" ] && conditional+=(-H "If-Modified-Since: $modified")
      read -r h b < <(fetch "${conditional[@]}" "$base$asset")
      repeat=$((repeat + h + b)) ;;
  esac
done
record first_visit "$first"
record repeat_visit "$repeat"
record asset_count "$(echo "$assets" | grep -c . || true)"
read -r _ _ < <(fetch -H "Cookie: $cookie" -H 'Accept: application/json' "$base/api/session")
record api_cache "$(header cache-control)"
