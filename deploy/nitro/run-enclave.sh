#!/usr/bin/env bash
# run-enclave.sh: start vigil-enclave in an AWS Nitro Enclave and publish its CID for vigil.service.
#
# nitro-cli gives each new enclave a CID (vsock address), a new one at every start unless
# --enclave-cid fixes it. vigil's nitro vault reads the CID once, when `vigil serve` starts
# (vaults.<name>.config.enclave_cid, else $ENCLAVE_CID, else 16). This wrapper is the link between
# the two: it runs the enclave, writes
#     ENCLAVE_CID=<cid>
#     ENCLAVE_ID=<enclave id>
# to $VIGIL_ENCLAVE_ENV_FILE (read by vigil.service through EnvironmentFile=), tells systemd it is
# ready, and then watches the enclave: when it is gone the script exits 1 and systemd restarts
# the unit (Restart=on-failure in deploy/systemd/vigil-enclave.service).
#
# Commands:
#   run-enclave.sh run      start, publish, watch (the unit's ExecStart; stays in the foreground)
#   run-enclave.sh stop     terminate the enclave named $VIGIL_ENCLAVE_NAME (ExecStopPost; idempotent)
#   run-enclave.sh status   print the `nitro-cli describe-enclaves` entry of that enclave
#
# Settings (environment; the unit reads them from /etc/vigil/enclave.env):
#   VIGIL_EIF                 EIF to run                         (default /opt/vigil/vigil-enclave.eif)
#   VIGIL_ENCLAVE_CPUS        vCPUs, within allocator cpu_count  (default 2)
#   VIGIL_ENCLAVE_MEMORY_MIB  MiB, within allocator memory_mib   (default 1024)
#   VIGIL_ENCLAVE_CID         fixed CID (4 .. 4294967294), or empty for a dynamic one (default empty)
#   VIGIL_ENCLAVE_NAME        nitro-cli enclave name             (default vigil)
#   VIGIL_EXPECTED_PCR0       96 hex digits: refuse to run an EIF whose PCR0 differs (default: no check)
#   VIGIL_ENCLAVE_DEBUG       1 = --debug-mode: console in the journal, PCR0..2 all zeros, so a
#                             production key policy refuses every Decrypt. Never in production.
#   VIGIL_ENCLAVE_ENV_FILE    file written for vigil.service     (default /run/vigil-enclave/enclave.env)
#   VIGIL_HOST_UNIT           units (space-separated) restarted when a dynamic CID changes while
#                             they run: vigil.service, and a `vigil proxy --enclave-cid` unit if
#                             you run one (default vigil.service; empty = none)
#   VIGIL_POLL_SECONDS        watch interval                     (default 10)
#   NITRO_CLI                 nitro-cli binary                   (default nitro-cli)
# Needs: nitro-cli, jq; root or a member of the `ne` group (and root for VIGIL_HOST_UNIT restarts).
set -euo pipefail

EIF=${VIGIL_EIF:-/opt/vigil/vigil-enclave.eif}
CPUS=${VIGIL_ENCLAVE_CPUS:-2}
MEMORY=${VIGIL_ENCLAVE_MEMORY_MIB:-1024}
FIXED_CID=${VIGIL_ENCLAVE_CID:-}
NAME=${VIGIL_ENCLAVE_NAME:-vigil}
EXPECTED_PCR0=${VIGIL_EXPECTED_PCR0:-}
DEBUG=${VIGIL_ENCLAVE_DEBUG:-0}
ENV_FILE=${VIGIL_ENCLAVE_ENV_FILE:-/run/vigil-enclave/enclave.env}
HOST_UNIT=${VIGIL_HOST_UNIT-vigil.service}
POLL=${VIGIL_POLL_SECONDS:-10}
NITRO_CLI=${NITRO_CLI:-nitro-cli}
# systemd sets STATE_DIRECTORY for StateDirectory=; the last CID is kept there across restarts.
STATE_DIR=${STATE_DIRECTORY:-/var/lib/vigil-enclave}

log() { printf 'run-enclave: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# uint_in VALUE MIN MAX: VALUE is a decimal number within [MIN, MAX] (at most 10 digits, no overflow).
uint_in() { [[ $1 =~ ^[0-9]{1,10}$ ]] && (($1 >= $2 && $1 <= $3)); }

# The describe-enclaves entry (JSON object) of the enclave called $NAME, or nothing.
describe_mine() {
    "$NITRO_CLI" describe-enclaves | jq -c --arg n "$NAME" '[.[] | select(.EnclaveName == $n)] | first // empty'
}

terminate_mine() {
    local entry id
    entry=$(describe_mine 2>/dev/null) || return 0
    [[ -n $entry ]] || return 0
    id=$(jq -r .EnclaveID <<<"$entry")
    log "terminating enclave $id ($NAME)"
    "$NITRO_CLI" terminate-enclave --enclave-id "$id" >/dev/null || log "terminate-enclave $id failed"
}

notify() {
    # Type=notify units need NotifyAccess=all: systemd-notify is a child of this script.
    if [[ -n ${NOTIFY_SOCKET:-} ]] && command -v systemd-notify >/dev/null; then
        systemd-notify "$@" || true
    fi
}

write_env_file() { # cid id
    local dir tmp
    dir=$(dirname "$ENV_FILE")
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.enclave.env.XXXXXX")
    printf 'ENCLAVE_CID=%s\nENCLAVE_ID=%s\n' "$1" "$2" >"$tmp"
    chmod 0644 "$tmp" # not secret; vigil.service (another user) reads it
    mv -f "$tmp" "$ENV_FILE"
}

check_settings() {
    command -v "$NITRO_CLI" >/dev/null || die "$NITRO_CLI not found (install aws-nitro-enclaves-cli)"
    command -v jq >/dev/null || die "jq not found"
    [[ -r $EIF ]] || die "EIF $EIF not readable (VIGIL_EIF)"
    uint_in "$CPUS" 1 1024 || die "VIGIL_ENCLAVE_CPUS=$CPUS is not a number of vCPUs"
    uint_in "$MEMORY" 64 4194304 || die "VIGIL_ENCLAVE_MEMORY_MIB=$MEMORY is not a number of MiB"
    if [[ -n $FIXED_CID ]] && ! uint_in "$FIXED_CID" 4 4294967294; then
        die "VIGIL_ENCLAVE_CID=$FIXED_CID: want 4 .. 4294967294 (0-2 are reserved, 3 is the parent)"
    fi
    [[ $DEBUG == 0 || $DEBUG == 1 ]] || die "VIGIL_ENCLAVE_DEBUG must be 0 or 1"
    uint_in "$POLL" 1 3600 || die "VIGIL_POLL_SECONDS=$POLL is not a number of seconds"
}

# PCR0 of the EIF must be the one the KMS key policy names, or every Import will fail later with a
# KMS AccessDeniedException; fail here instead, with the two values.
check_pcr0() {
    [[ -n $EXPECTED_PCR0 ]] || return 0
    local want got
    want=${EXPECTED_PCR0,,}
    [[ $want =~ ^[0-9a-f]{96}$ ]] || die "VIGIL_EXPECTED_PCR0 must be 96 hex digits"
    got=$("$NITRO_CLI" describe-eif --eif-path "$EIF" | jq -r '.Measurements.PCR0 // empty') ||
        die "nitro-cli describe-eif failed: cannot check PCR0 of $EIF (nitro-cli too old?)"
    got=${got,,}
    [[ $got == "$want" ]] || die "PCR0 of $EIF is $got, VIGIL_EXPECTED_PCR0 is $want"
    log "PCR0 of $EIF matches VIGIL_EXPECTED_PCR0"
}

cmd_run() {
    check_settings
    check_pcr0
    # A previous run killed before it could clean up would hold the CPUs and memory.
    terminate_mine

    local args=(run-enclave --eif-path "$EIF" --cpu-count "$CPUS" --memory "$MEMORY" --enclave-name "$NAME")
    if [[ -n $FIXED_CID ]]; then
        args+=(--enclave-cid "$FIXED_CID")
    fi
    if [[ $DEBUG == 1 ]]; then
        args+=(--debug-mode)
        log "WARNING: --debug-mode: PCR0, PCR1 and PCR2 are all zeros; a production key policy refuses this enclave"
    fi
    log "$NITRO_CLI ${args[*]}"
    "$NITRO_CLI" "${args[@]}" >&2 || die "nitro-cli run-enclave failed (allocator reservation too small? see /var/log/nitro_enclaves/)"

    # describe-enclaves is the source of truth for the CID (run-enclave's own output format has
    # changed between nitro-cli versions).
    local entry id cid state flags
    entry=$(describe_mine) || die "nitro-cli describe-enclaves failed"
    [[ -n $entry ]] || die "no enclave named $NAME after run-enclave"
    id=$(jq -r .EnclaveID <<<"$entry")
    cid=$(jq -r .EnclaveCID <<<"$entry")
    state=$(jq -r .State <<<"$entry")
    flags=$(jq -r '.Flags // "NONE"' <<<"$entry")
    uint_in "$cid" 4 4294967294 || { terminate_mine; die "unexpected EnclaveCID '$cid'"; }
    [[ $state == RUNNING ]] || { terminate_mine; die "enclave $id is $state, not RUNNING"; }
    if [[ $flags == *DEBUG* && $DEBUG != 1 ]]; then
        terminate_mine
        die "enclave $id runs in debug mode although VIGIL_ENCLAVE_DEBUG=0"
    fi

    trap 'log "stopping"; terminate_mine; rm -f "$ENV_FILE"; exit 0' TERM INT
    write_env_file "$cid" "$id"
    log "enclave $id running, CID $cid, flags $flags; wrote $ENV_FILE"

    # A dynamic CID changed while vigil.service runs: vigil keeps dialling the old CID, so restart
    # it (--no-block: vigil.service is ordered after this unit). With a fixed CID vigil reconnects
    # by itself (backoff up to 30 s) and is left alone.
    local last=""
    mkdir -p "$STATE_DIR" 2>/dev/null || true
    [[ -r $STATE_DIR/last-cid ]] && last=$(<"$STATE_DIR/last-cid")
    printf '%s\n' "$cid" >"$STATE_DIR/last-cid" 2>/dev/null || true
    if [[ -z $FIXED_CID && -n $last && $last != "$cid" ]]; then
        local unit units
        read -r -a units <<<"$HOST_UNIT"
        for unit in "${units[@]}"; do
            systemctl is-active --quiet "$unit" 2>/dev/null || continue
            log "CID changed ($last -> $cid): restarting $unit"
            systemctl --no-block try-restart "$unit" || log "could not restart $unit"
        done
    fi

    local console_pid=""
    if [[ $DEBUG == 1 ]]; then
        "$NITRO_CLI" console --enclave-id "$id" >&2 &
        console_pid=$!
    fi
    notify --ready --status="enclave $id, CID $cid"

    local failures=0 now
    while :; do
        sleep "$POLL" &
        wait $! || true
        if ! entry=$(describe_mine 2>/dev/null); then
            failures=$((failures + 1))
            ((failures < 3)) && continue
            die "nitro-cli describe-enclaves failed $failures times"
        fi
        failures=0
        now=$(jq -r '.EnclaveID // empty' <<<"$entry" 2>/dev/null || true)
        state=$(jq -r '.State // empty' <<<"$entry" 2>/dev/null || true)
        if [[ $now != "$id" || $state != RUNNING ]]; then
            if [[ -n $console_pid ]]; then kill "$console_pid" 2>/dev/null || true; fi
            rm -f "$ENV_FILE"
            die "enclave $id is ${state:-gone}"
        fi
    done
}

case ${1:-} in
run) cmd_run ;;
stop)
    command -v "$NITRO_CLI" >/dev/null || exit 0
    terminate_mine
    rm -f "$ENV_FILE"
    ;;
status)
    entry=$(describe_mine)
    [[ -n $entry ]] || { echo "no enclave named $NAME" >&2; exit 3; }
    jq . <<<"$entry"
    ;;
*)
    echo "usage: $0 run|stop|status" >&2
    exit 2
    ;;
esac
