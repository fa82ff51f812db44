#!/bin/sh
# The layers of user/ (docs/design.md, "The tree"), checked over #include
# lines: headers of user/ are named from user/ ("proto/sse.h"), so each
# line says which layer it reaches into. Pure layers (proto/, metrics/)
# reach no kernel, process or network interface; parsers sit below the
# metrics and the LLM logic; core/ is below everything.
# Prints one line per breach and exits 1 if there is any.
cd "$(dirname "$0")/.." || exit 2
status=0

breach() { # pattern, files, why
	hits=$(grep -nE "$1" $2 2>/dev/null)
	[ -z "$hits" ] && return
	echo "$hits" | sed "s|\$| <- $3|"
	status=1
}

# contract and generated headers are the only ones named without a folder
unnamed=$(grep -nE '^#include "[^/"]+"' user/*.c user/*/*.[ch] |
	grep -vE '"(conn_event|http_classify|resp_classify|ssl_layout|kstream|sse_scan|sse_fast|sse_head|chunk_frame|hex|build_version|live_page_html|[a-z_]+\.skel)\.h"')
if [ -n "$unnamed" ]; then
	echo "$unnamed" | sed 's|$| <- name user/ headers from user/ (layer/file.h)|'
	status=1
fi

pure_io='^#include (<(bpf|linux|sys)/|<(unistd|fcntl|dirent|poll|pthread|microhttpd)\.h>|"(kernel|ident|track|web)/)'
breach "$pure_io" "user/proto/*.[ch] user/metrics/*.[ch]" "pure layer: no kernel, /proc or I/O"
breach '^#include "(metrics|llm)/' "user/proto/*.[ch]" "parsers do not depend on metrics or LLM logic"
breach '^#include "(ident|kernel|track|proto|llm|metrics|web)/' "user/core/*.[ch]" "core/ is below every layer"
exit $status
