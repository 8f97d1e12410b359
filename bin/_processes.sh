# Sourced by bin/run-demo and bin/run-prod: run the processes in the foreground, each in its own process
# group (job control), and stop them all when told.
#
#   start CMD [ARG...]   run CMD in the background, in its own process group
#   stop_all             one SIGTERM each; whatever still runs after STOP_TIMEOUT seconds (default 10),
#                        or at a second Ctrl-C, is SIGKILLed with its whole process group (a django-q2
#                        cluster's workers included), so nothing outlives the command
#
# One SIGTERM each, never SIGINT: a django-q2 cluster that receives SIGINT and SIGTERM at once can
# deadlock in its signal handler and never stop. The terminal's Ctrl-C reaches only the calling script.
set -m
pids=()
stop_now=0

start() {
  "$@" &
  pids+=($!)
}

# shellcheck disable=SC2317 # run by the callers' traps
stop_all() {
  trap 'stop_now=1' INT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local ticks=$((${STOP_TIMEOUT:-10} * 5)) # of 0.2 s
  while [ -n "$(jobs -rp)" ] && [ "$ticks" -gt 0 ] && [ "$stop_now" = 0 ]; do
    sleep 0.2
    ticks=$((ticks - 1))
  done
  if [ -n "$(jobs -rp)" ]; then
    echo "$(basename "$0"): still running after ${STOP_TIMEOUT:-10} s; killing." >&2
  fi
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
