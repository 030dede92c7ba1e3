#!/bin/bash
# check.sh - runs baton's SPIN models: the models must verify (0 errors),
# the mutants and the reachability witnesses must FAIL (errors > 0, for
# the expected reason).  Prints the states explored per run; exits non-zero
# if any expectation is not met.  See README in this directory.
#
# Usage: tests/models/check.sh [substring]   (only runs whose name has it)
# Needs spin (Debian package `spin`) and a C compiler (CC, default gcc).

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
filter=${1:-}
cc=${CC:-gcc}

command -v spin >/dev/null || { echo "check.sh: spin not found" >&2; exit 77; }
command -v "$cc" >/dev/null || { echo "check.sh: $cc not found" >&2; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-models.XXXXXX")
keep=0
cleanup() { [ "$keep" -eq 0 ] && rm -rf "$work"; }
trap cleanup EXIT

# name | model | spin -D flags | mode (safety|np) | expect (pass|fail) |
# pattern the error line must contain (fail runs only)
runs='
queue/handoff-cap1            |queue_wait.pml |-DSCEN=1 -DCAP=1              |safety|pass|
queue/handoff-cap2            |queue_wait.pml |-DSCEN=1 -DCAP=2              |safety|pass|
queue/close-wakes-poppers     |queue_wait.pml |-DSCEN=2 -DCAP=1              |safety|pass|
queue/close-wakes-pushers     |queue_wait.pml |-DSCEN=3 -DCAP=1              |safety|pass|
queue/two-producers-cap1      |queue_wait.pml |-DSCEN=4 -DCAP=1 -DSPURIOUS=0 |safety|pass|
queue/two-producers-cap2      |queue_wait.pml |-DSCEN=4 -DCAP=2              |safety|pass|
queue/timed-pop               |queue_wait.pml |-DSCEN=5 -DCAP=1              |safety|pass|
queue/MUTANT-no-recheck       |queue_wait.pml |-DSCEN=1 -DMUTANT_NO_RECHECK   |safety|fail|invalid end state
queue/MUTANT-no-recheck-2p    |queue_wait.pml |-DSCEN=4 -DMUTANT_NO_RECHECK   |safety|fail|invalid end state
queue/MUTANT-early-check      |queue_wait.pml |-DSCEN=1 -DMUTANT_EARLY_CHECK  |safety|fail|invalid end state
queue/MUTANT-no-announce      |queue_wait.pml |-DSCEN=1 -DMUTANT_NO_ANNOUNCE  |safety|fail|invalid end state
queue/close-3-poppers-batch1  |queue_wait.pml |-DSCEN=6 -DBATCH=1 -DSPURIOUS=0|safety|pass|
queue/MUTANT-old-batch        |queue_wait.pml |-DSCEN=6 -DBATCH=1 -DMUTANT_OLD_BATCH|safety|fail|invalid end state
queue/WITNESS-a-waiter-sleeps |queue_wait.pml |-DSCEN=1 -DWITNESS=1          |safety|fail|assertion violated
cell/future-cancel            |result_cell.pml|-DSCEN=1                      |safety|pass|
cell/future-two-stops         |result_cell.pml|-DSCEN=3                      |safety|pass|
cell/promise                  |result_cell.pml|-DSCEN=2                      |safety|pass|
cell/future-no-livelock       |result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=1|np    |pass|
cell/MUTANT-help-returns-early|result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=0|safety|fail|(v!=0)
cell/MUTANT-early-publish     |result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_EARLY_PUBLISH  |safety|fail|(v!=0)
cell/MUTANT-early-publish-prom|result_cell.pml|-DSCEN=2 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_EARLY_PUBLISH  |safety|fail|(v!=0)
cell/MUTANT-early-published  |result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_EARLY_PUBLISHED|safety|fail|(v!=0)
cell/MUTANT-no-inbody-check   |result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_NO_INBODY_CHECK|safety|fail|body_running
cell/MUTANT-no-inbody-check-3 |result_cell.pml|-DSCEN=3 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_NO_INBODY_CHECK|safety|fail|body_running
cell/MUTANT-split-announce    |result_cell.pml|-DSCEN=1 -DHELP_WAITS_FOR_DONE=1 -DMUTANT_SPLIT_ANNOUNCE |safety|fail|body_running
xproc/wake-2pop               |xproc_wake.pml |                              |safety|pass|
xproc/wake-3pop               |xproc_wake.pml |-DNITEMS=3 -DNPOP=3           |safety|pass|
xproc/wake-2pop-4items        |xproc_wake.pml |-DNITEMS=4 -DNPOP=2           |safety|pass|
xproc/MUTANT-plain-bump       |xproc_wake.pml |-DMUTANT_PLAIN_BUMP           |safety|fail|invalid end state
xproc/MUTANT-no-flag          |xproc_wake.pml |-DMUTANT_NO_FLAG              |safety|fail|invalid end state
xproc/MUTANT-separate-flag    |xproc_wake.pml |-DMUTANT_SEPARATE_FLAG        |safety|fail|invalid end state
xproc/WITNESS-a-popper-sleeps |xproc_wake.pml |-DWITNESS=1                   |safety|fail|assertion violated
xproc/lock-recycled-row       |xproc_lock.pml |-DSCEN=1                      |safety|pass|
xproc/lock-detach             |xproc_lock.pml |-DSCEN=2                      |safety|pass|
xproc/MUTANT-lock-row-only    |xproc_lock.pml |-DSCEN=1 -DMUTANT_ROW_ONLY     |safety|fail|holders==1
xproc/MUTANT-detach-by-row    |xproc_lock.pml |-DSCEN=2 -DMUTANT_DETACH_BY_ROW|safety|fail|holders==1
xproc/WITNESS-a-takeover      |xproc_lock.pml |-DSCEN=1 -DWITNESS=1          |safety|fail|assertion violated
stream/hub-kill               |stream_hub.pml |                              |safety|pass|
stream/hub-two-kills          |stream_hub.pml |-DKILLERS=2                   |safety|pass|
stream/WITNESS-hub-handed-on  |stream_hub.pml |-DWITNESS=1                   |safety|fail|assertion violated
stream/MUTANT-fetch-or-announce|stream_hub.pml|-DMUTANT_FETCH_OR_ANNOUNCE    |safety|fail|hub_refs==0
stream/MUTANT-no-handoff      |stream_hub.pml |-DMUTANT_NO_HANDOFF           |safety|fail|!(hub_freed)
stream/MUTANT-settle-first    |stream_hub.pml |-DMUTANT_SETTLE_FIRST         |safety|fail|!(hub_freed)
stream/MUTANT-no-publish-wait |stream_hub.pml |-DMUTANT_NO_PUBLISH_WAIT -DKILLERS=2|safety|fail|published
rdv/handoff                   |rendezvous.pml |-DSCEN=1 -DSPINS=3            |safety|pass|
rdv/close-3-poppers-batch1    |rendezvous.pml |-DSCEN=2 -DBATCH=1              |safety|pass|
rdv/close-3-poppers-batch2    |rendezvous.pml |-DSCEN=2 -DBATCH=2              |safety|pass|
rdv/close-races-handoff       |rendezvous.pml |-DSCEN=3                      |safety|pass|
rdv/try-push-cancelled-popper |rendezvous.pml |-DSCEN=4                      |safety|pass|
rdv/timed-push-try-pop        |rendezvous.pml |-DSCEN=5                      |safety|pass|
rdv/two-pushers-in-line       |rendezvous.pml |-DSCEN=6                      |safety|pass|
rdv/cancelled-pusher-try-pop  |rendezvous.pml |-DSCEN=7                      |safety|pass|
rdv/MUTANT-late-item          |rendezvous.pml |-DSCEN=1 -DMUTANT_LATE_ITEM    |safety|fail|got==handed
rdv/MUTANT-wake-before-claim  |rendezvous.pml |-DSCEN=1 -DMUTANT_WAKE_BEFORE_CLAIM|safety|fail|invalid end state
rdv/MUTANT-skip-sleeper       |rendezvous.pml |-DSCEN=1 -DMUTANT_SKIP_SLEEPER |safety|fail|invalid end state
rdv/MUTANT-no-announce        |rendezvous.pml |-DSCEN=1 -DMUTANT_NO_ANNOUNCE  |safety|fail|invalid end state
rdv/MUTANT-closed-unlocked    |rendezvous.pml |-DSCEN=3 -DMUTANT_CLOSED_UNLOCKED|safety|fail|invalid end state
rdv/MUTANT-one-batch          |rendezvous.pml |-DSCEN=2 -DBATCH=1 -DMUTANT_ONE_BATCH|safety|fail|invalid end state
rdv/MUTANT-old-batch          |rendezvous.pml |-DSCEN=2 -DBATCH=1 -DMUTANT_OLD_BATCH|safety|fail|invalid end state
rdv/MUTANT-ignore-claim       |rendezvous.pml |-DSCEN=4 -DMUTANT_IGNORE_CLAIM |safety|fail|taken[x]==1
rdv/MUTANT-ignore-claim-pop   |rendezvous.pml |-DSCEN=5 -DMUTANT_IGNORE_CLAIM |safety|fail|taken[got]==1
rdv/MUTANT-no-unlink          |rendezvous.pml |-DSCEN=4 -DMUTANT_NO_UNLINK    |safety|fail|alive[p]
rdv/MUTANT-no-unlink-pusher   |rendezvous.pml |-DSCEN=7 -DMUTANT_NO_UNLINK    |safety|fail|alive[p]
rdv/WITNESS-a-waiter-sleeps   |rendezvous.pml |-DSCEN=1 -DWITNESS=1          |safety|fail|!(ever_slept)
rdv/WITNESS-close-batches     |rendezvous.pml |-DSCEN=2 -DBATCH=1 -DWITNESS=2|safety|fail|!(second_batch)
'

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

# One run: writes its table line (and notes if it missed) to $dir/result.
run_one() {
	local name=$1 model=$2 flags=$3 mode=$4 expect=$5 pattern=$6 dir=$7
	local opt copts popts start end secs out errors states why incomplete result

	mkdir -p "$dir"
	cp "$here/$model" "$dir/"
	start=$(date +%s.%N)
	# shellcheck disable=SC2086 # flags are words on purpose
	if ! (cd "$dir" && spin $flags -a "$model" >spin.log 2>&1); then
		{
			printf '%-32s %-6s %-6s %12s %8s  %s\n' "$name" "$mode" "$expect" - - "SPIN FAILED"
			sed 's/^/    /' "$dir/spin.log"
		} >"$dir/result"
		return
	fi
	if [ "$mode" = np ]; then
		copts="-DNP"; popts="-l"
	else
		copts="-DSAFETY"; popts=""
	fi
	# gcc -O2 takes longer over SPIN's generated code than a small search
	# does: optimise only the big searches (the queue's verifying runs).
	opt=-O0
	[ "$expect" = pass ] && [ "$model" = queue_wait.pml ] && opt=-O2
	if ! (cd "$dir" && "$cc" $opt -w $copts -DCOLLAPSE -DMEMLIM=4096 -o pan pan.c >cc.log 2>&1); then
		{
			printf '%-32s %-6s %-6s %12s %8s  %s\n' "$name" "$mode" "$expect" - - "PAN DID NOT BUILD"
			sed 's/^/    /' "$dir/cc.log"
		} >"$dir/result"
		return
	fi
	(cd "$dir" && ./pan -m20000 $popts >pan.out 2>&1)
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1fs", b - a }')
	out="$dir/pan.out"
	errors=$(grep -oE 'errors: [0-9]+' "$out" | awk '{ print $2 }' | tail -1)
	states=$(awk '/states, stored/ { print $1 }' "$out" | tail -1)
	why=$(grep -m1 -E '^pan:[0-9]+:|^pan: ' "$out" | sed 's/ (at depth [0-9]*)//')
	incomplete=$(grep -m1 -E 'max search depth too small|out of memory|search not completed' "$out")
	result=ok
	if [ -z "$errors" ]; then
		result="NO RESULT: $(tail -1 "$out")"
	elif [ "$expect" = pass ]; then
		if [ "$errors" != 0 ]; then
			result="FAILED, expected to verify: $why"
		elif [ -n "$incomplete" ]; then
			result="INCOMPLETE: $incomplete"
		fi
	else
		if [ "$errors" = 0 ]; then
			result="VERIFIED, expected to fail"
		elif [ -n "$pattern" ] && ! grep -qF -- "$pattern" <<<"$why"; then
			result="FAILED for another reason: $why"
		else
			result="ok (fails: ${why#pan:1: })"
		fi
	fi
	{
		printf '%-32s %-6s %-6s %12s %8s  %s\n' "$name" "$mode" "$expect" "${states:--}" "$secs" "$result"
		case $result in
		ok*) ;;
		*)
			echo "    model: $model $flags ($mode); files in $dir"
			echo "    replay: cd $dir && spin -t -p $flags $model | less"
			;;
		esac
	} >"$dir/result"
}

jobs=${MODELS_JOBS:-$(nproc 2>/dev/null || echo 2)}
spin -V | head -1
echo "running with $jobs parallel jobs (MODELS_JOBS)"
dirs=()
n=0
while IFS='|' read -r name model flags mode expect pattern; do
	name=$(trim "$name")
	[ -z "$name" ] && continue
	case $name in *"$filter"*) ;; *) continue ;; esac
	n=$((n + 1))
	dir="$work/$(printf '%02d' "$n")-${name//\//-}"
	dirs+=("$dir")
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	run_one "$name" "$(trim "$model")" "$(trim "$flags")" "$(trim "$mode")" \
	    "$(trim "$expect")" "$(trim "$pattern")" "$dir" &
done <<<"$runs"
wait

if [ "$n" -eq 0 ]; then
	echo "check.sh: no run matches '$filter'" >&2
	exit 2
fi
printf '%-32s %-6s %-6s %12s %8s  %s\n' run mode expect states time result
bad=0
for dir in "${dirs[@]}"; do
	if [ ! -f "$dir/result" ]; then
		echo "$dir: no result"
		bad=1
		continue
	fi
	cat "$dir/result"
	head -1 "$dir/result" | grep -qE '  ok( |$)' || bad=1
done
if [ "$bad" -ne 0 ]; then
	keep=1
	echo "check.sh: some expectations were NOT met (work files kept in $work)"
	exit 1
fi
echo "check.sh: all $n runs met their expectations"
