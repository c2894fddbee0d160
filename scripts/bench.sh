#!/usr/bin/env bash
# bench.sh runs tocsin's standard short benchmark (make bench): it builds
# bin/tocsin and bin/tocsin-bench, and for each store (SQLite in a fresh
# temporary directory; MariaDB/MySQL in a fresh database) starts
# `tocsin serve` on a free loopback port, runs the standard tocsin-bench
# runs against it, and stops it; then prints one table of the headline
# figures next to the targets of issue 7, and runs the Go micro-benchmarks.
#
# Environment:
#   TOCSIN_BENCH_MYSQL_DSN      server to create the database on (default
#                               'root@tcp(127.0.0.1:3306)/'; a database name
#                               in it is ignored, parameters are kept)
#   TOCSIN_BENCH_REQUIRE_MYSQL  1: fail, rather than skip MySQL, when no
#                               server answers
#   BENCHTIME                   -benchtime of the micro-benchmarks (200ms)
#   GO                          the go command (go)
# Other TOCSIN_* variables in the environment apply to the server as usual.
#
# Every server is stopped and every database dropped on exit, even on ^C.
# The exit code is 1 when a run or a benchmark fails (an error, a lost or
# duplicated notification), not when a figure misses its target.

set -euo pipefail

GO=${GO:-go}
BENCHTIME=${BENCHTIME:-200ms}
MYSQL_DSN=${TOCSIN_BENCH_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}
REQUIRE_MYSQL=${TOCSIN_BENCH_REQUIRE_MYSQL:-0}

# The standard runs: name, then tocsin-bench's arguments. idle goes first:
# memory per connection means something only on a server that has not yet
# grown its heap for other work.
RUNS=(
	"idle|idle --connections 2000 --hold 3s"
	"ingest-100|ingest --alerts-per-request 100 --concurrency 8 --duration 5s"
	"ingest-1|ingest --alerts-per-request 1 --concurrency 16 --duration 5s"
	"e2e|e2e --users 50 --conns-per-user 2 --rate 11000 --concurrency 32 --duration 5s"
)

root=$(cd "$(dirname "$0")/.." && pwd)
tocsin=$root/bin/tocsin
bench=$root/bin/tocsin-bench
work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
results=$work/results # lines: store|run|exit code|JSON
rundir=''  # the store being run: its directory, port, driver and DSN
port=''
driver=''
dsn=''
server_pid=
mysql_client=()  # the client and its connection arguments
mysql_pwd=       # the DSN's password, given to the client as MYSQL_PWD
mysql_db=        # the database this run created, to drop
mysql_prefix=    # the DSN up to the database name: user:pass@tcp(host:port)
mysql_params=    # the DSN's ?parameters, with the ?

log() { printf '== %s\n' "$*" >&2; }

# stop_server sends SIGTERM to the server, waits up to 15 s for it to exit,
# then kills it.
stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 150; i++)); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server_pid" 2>/dev/null; then
		log "server $server_pid did not stop within 15 s: killing it"
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# sql runs statements on the MySQL server, with no database selected.
sql() {
	MYSQL_PWD=$mysql_pwd "${mysql_client[@]}" --batch --skip-column-names -e "$1"
}

# drop_databases drops the database of the end-to-end runs and those the
# micro-benchmarks made (tocsin_bench_ID_micro_*), if a benchmark was killed
# before it dropped its own.
drop_databases() {
	[ ${#mysql_client[@]} -gt 0 ] || return 0
	local db
	if [ -n "$mysql_db" ]; then
		sql "DROP DATABASE IF EXISTS \`$mysql_db\`" || log "could not drop database $mysql_db"
		mysql_db=
	fi
	for db in $(sql "SHOW DATABASES LIKE 'tocsin\\_bench\\_${id}\\_micro\\_%'" 2>/dev/null); do
		sql "DROP DATABASE IF EXISTS \`$db\`" || log "could not drop database $db"
	done
}

cleanup() {
	stop_server
	drop_databases
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port prints a loopback port that nothing listens on.
free_port() {
	local port i
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "no free loopback port found" >&2
	return 1
}

# http_status prints the status code of GET path on the loopback port.
http_status() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
		IFS=' ' read -r -t 5 _ code _ <&3 || exit 1
		echo "$code"
	) 2>/dev/null
}

# tocsin_exec replaces the shell it runs in (call it in a subshell) with
# bin/tocsin, run in the run directory so that no config.yaml is read, with
# the variables of the store and the port.
tocsin_exec() {
	cd "$rundir" || exit 1
	exec env \
		TOCSIN_SERVER_LISTEN="127.0.0.1:$port" \
		TOCSIN_STORAGE_DRIVER="$driver" \
		TOCSIN_STORAGE_DSN="$dsn" \
		TOCSIN_LOG_LEVEL=warn \
		TOCSIN_SERVER_SHUTDOWN_TIMEOUT=2s \
		"$tocsin" "$@"
}

# start_server starts tocsin serve and waits for /readyz, trying another
# port if the one chosen was taken meanwhile.
start_server() {
	local try i
	for ((try = 0; try < 3; try++)); do
		(tocsin_exec serve) >"$rundir/server.log" 2>&1 &
		server_pid=$!
		for ((i = 0; i < 300; i++)); do
			if ! kill -0 "$server_pid" 2>/dev/null; then
				wait "$server_pid" 2>/dev/null || true
				server_pid=
				break
			fi
			if [ "$(http_status "$port" /readyz)" = 200 ]; then
				return 0
			fi
			sleep 0.1
		done
		if [ -n "$server_pid" ]; then
			log "tocsin serve not ready after 30 s:"
			tail -n 20 "$rundir/server.log" >&2
			return 1
		fi
		grep -q 'address already in use' "$rundir/server.log" || break
		port=$(free_port) || return 1
	done
	log "tocsin serve exited:"
	tail -n 20 "$rundir/server.log" >&2
	return 1
}

# parse_mysql_dsn splits MYSQL_DSN ([user[:pass]@][proto[(addr)]]/[db][?params])
# into the client's arguments, mysql_prefix and mysql_params.
parse_mysql_dsn() {
	local head=$MYSQL_DSN creds="" addr user host port
	case $head in *\?*)
		mysql_params="?${head#*\?}"
		head=${head%%\?*}
		;;
	esac
	head=${head%/*}
	mysql_prefix=$head
	case $head in *@*)
		creds=${head%@*}
		head=${head##*@}
		;;
	esac
	user=${creds%%:*}
	case $creds in *:*) mysql_pwd=${creds#*:} ;; esac
	addr=${head#*(}
	addr=${addr%)}
	local client
	client=$(command -v mariadb || command -v mysql || true)
	if [ -z "$client" ]; then
		return 1
	fi
	mysql_client=("$client" --connect-timeout=3)
	[ -z "$user" ] || mysql_client+=(--user="$user")
	case $head in
	unix*) mysql_client+=(--protocol=SOCKET --socket="$addr") ;;
	*)
		[ "$addr" != "$head" ] || addr=127.0.0.1:3306
		host=${addr%:*}
		port=${addr##*:}
		host=${host#[}
		host=${host%]}
		mysql_client+=(--protocol=TCP --host="$host" --port="$port")
		;;
	esac
}

# setup_store sets driver and dsn for a store, creating what it needs;
# it returns 1 for a store to skip.
setup_store() {
	case $1 in
	sqlite)
		driver=sqlite
		dsn=$rundir/tocsin.db
		;;
	mysql)
		driver=mysql
		mysql_db=tocsin_bench_$id
		if ! sql "CREATE DATABASE \`$mysql_db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"; then
			mysql_db=
			log "could not create a database on $MYSQL_DSN"
			return 1
		fi
		dsn="$mysql_prefix/$mysql_db$mysql_params"
		;;
	esac
}

# run_store runs every standard run against a fresh server on a store.
run_store() {
	local store=$1 token entry name args out rc
	rundir=$work/$store
	mkdir -p "$rundir"
	setup_store "$store" || return 1
	port=$(free_port) || return 1
	log "$store: creating the admin user and its token"
	if ! (tocsin_exec user add bench --role admin) >"$rundir/cli.log" 2>&1 ||
		! token=$( (tocsin_exec token create --user bench --name bench) 2>>"$rundir/cli.log"); then
		cat "$rundir/cli.log" >&2
		return 1
	fi
	start_server || return 1
	log "$store: tocsin serve on 127.0.0.1:$port (pid $server_pid)"
	for entry in "${RUNS[@]}"; do
		name=${entry%%|*}
		read -r -a args <<<"${entry#*|}"
		log "$store: tocsin-bench ${args[*]}"
		rc=0
		out=$("$bench" "${args[@]}" --url "http://127.0.0.1:$port" --token "$token" --json \
			2>"$rundir/$name.err") || rc=$?
		out=$(printf '%s\n' "$out" | grep '^{' | tail -n 1 || true)
		if [ "$rc" -ne 0 ]; then
			log "$store: $name exited $rc:"
			tail -n 10 "$rundir/$name.err" >&2
		fi
		[ -z "$out" ] || printf '%s\n' "$out" >&2
		printf '%s|%s|%s|%s\n' "$store" "$name" "$rc" "$out" >>"$results"
		if ! kill -0 "$server_pid" 2>/dev/null; then
			log "$store: the server died during $name:"
			tail -n 20 "$rundir/server.log" >&2
			wait "$server_pid" 2>/dev/null || true
			server_pid=
			return 1
		fi
	done
	stop_server
	if [ -s "$rundir/server.log" ]; then
		log "$store: the server logged (last 20 lines):"
		tail -n 20 "$rundir/server.log" >&2
	fi
	[ "$store" != mysql ] || drop_databases
}

# print_table prints one row per store and run: the headline figures next to
# issue 7's targets (stated for MariaDB on the 2-core machine).
print_table() {
	awk -F'|' '
	function figures(json, f,    s, kv, k, v) {
		split("", f)
		s = json
		while (match(s, /"[a-z0-9_]+":-?[0-9][0-9.eE+-]*/)) {
			kv = substr(s, RSTART, RLENGTH)
			s = substr(s, RSTART + RLENGTH)
			k = kv; sub(/":.*/, "", k); sub(/^"/, "", k)
			v = kv; sub(/^"[^"]*":/, "", v)
			f[k] = v + 0
		}
	}
	# pick returns the first key of f (in keys, space-separated, then any
	# key matching re) that is set, or "".
	function pick(f, keys, re,    n, a, i, k) {
		n = split(keys, a, " ")
		for (i = 1; i <= n; i++) if (a[i] in f) return a[i]
		if (re == "") return ""
		for (k in f) if (k ~ re) return k
		return ""
	}
	function show(f, k, fmt) { return k == "" ? "-" : sprintf(fmt, f[k]) }
	BEGIN {
		want["ingest-100"] = 30000; p99["ingest-100"] = 100; target["ingest-100"] = ">= 30000 alerts/s, p99 <= 100 ms"
		want["ingest-1"] = 8500; p99["ingest-1"] = 10; target["ingest-1"] = ">= 8500 requests/s, p99 <= 10 ms"
		# The run offers exactly the target rate, so it is judged as kept
		# up with at 98% of it (the figure runs to the last receive).
		want["e2e"] = 21560; p99["e2e"] = 50; target["e2e"] = ">= 22000 deliveries/s, p99 <= 50 ms, none lost"
		kib["idle"] = 8; target["idle"] = "<= 8 KiB/conn (at 15000 conns)"
		tput["ingest-100"] = "alerts_per_s"; unit["ingest-100"] = "alerts"
		tput["ingest-1"] = "requests_per_s"; unit["ingest-1"] = "requests"
		tput["e2e"] = "deliveries_per_s"; unit["e2e"] = "deliveries"
		fmt = "%-7s %-11s %18s %9s %9s  %-15s %s\n"
		printf fmt, "store", "run", "per second", "p99 ms", "KiB/conn", "verdict", "target"
	}
	{
		store = $1; run = $2; rc = $3; json = $0
		sub(/^[^|]*\|[^|]*\|[^|]*\|/, "", json)
		figures(json, f)
		kt = pick(f, tput[run], "")
		kp = pick(f, "latency_p99_ms delivery_p99_ms", "_p99_ms$")
		kk = pick(f, "rss_per_conn_kib resident_per_conn_kib", "(rss|resident).*per_conn.*kib|per_conn.*kib")
		verdict = "ok"; miss = ""
		if (json == "") verdict = "no result"
		else {
			if ((run in want) && kt != "" && f[kt] < want[run]) miss = miss ",rate"
			if ((run in p99) && kp != "" && f[kp] > p99[run]) miss = miss ",p99"
			if ((run in kib) && kk != "" && f[kk] > kib[run]) miss = miss ",mem"
			if (miss != "") verdict = "MISS(" substr(miss, 2) ")"
			if (rc != 0) verdict = "FAIL"
		}
		if (json == "" && rc != 0) verdict = "FAIL"
		printf fmt, store, run, show(f, kt, "%.0f " unit[run]), show(f, kp, "%.2f"), show(f, kk, "%.2f"), verdict, target[run]
	}' "$results"
	echo "Targets are issue 7's, for MariaDB on a 2-core machine; the runs here are short (5 s),"
	echo "e2e offers the target's 11000 alerts/s (22000 deliveries/s) and passes at 98% of it;"
	echo "idle holds 2000 connections."
}

# micro runs the Go benchmarks of every package that has some.
micro() {
	local pkgs
	mapfile -t pkgs < <(cd "$root" && grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u)
	log "micro-benchmarks (-benchtime $BENCHTIME): ${pkgs[*]}"
	(cd "$root" && "$GO" test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" "${pkgs[@]}")
}

main() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	log "building bin/tocsin and bin/tocsin-bench"
	(cd "$root" && "$GO" build -o bin/ ./cmd/tocsin ./cmd/tocsin-bench)
	: >"$results"

	local stores=(sqlite) failed=0
	if ! parse_mysql_dsn; then
		mysql_client=()
		log "no mariadb or mysql client found"
	fi
	if [ ${#mysql_client[@]} -gt 0 ] && sql 'SELECT 1' >/dev/null 2>&1; then
		stores+=(mysql)
	elif [ "$REQUIRE_MYSQL" = 1 ]; then
		log "no MySQL server answers on $MYSQL_DSN, and TOCSIN_BENCH_REQUIRE_MYSQL=1"
		exit 1
	else
		mysql_client=()
		log "MySQL skipped: no server answers on $MYSQL_DSN (set TOCSIN_BENCH_MYSQL_DSN; TOCSIN_BENCH_REQUIRE_MYSQL=1 makes it required)"
	fi

	local store
	for store in "${stores[@]}"; do
		run_store "$store" || failed=1
		stop_server
	done

	echo
	print_table
	echo

	# The micro-benchmarks' MySQL halves run on databases of their own,
	# named tocsin_bench_ID_micro_*, when the variable is not set already.
	if [ ${#mysql_client[@]} -gt 0 ] && [ -z "${TOCSIN_TEST_MYSQL_DSN:-}" ]; then
		export TOCSIN_TEST_MYSQL_DSN="$mysql_prefix/tocsin_bench_${id}_micro$mysql_params"
	fi
	micro || failed=1
	if awk -F'|' '$3 != 0' "$results" | grep -q .; then
		failed=1
	fi
	return "$failed"
}

main "$@"
