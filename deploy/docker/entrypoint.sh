#!/bin/sh
# The image's entry command: check /data, make sure the weights are there,
# then exec `vantage serve` (so tini's SIGTERM reaches it directly).
#
# Environment (defaults in the Dockerfile):
#   VANTAGE_DATA           the persistent folder (fal's /data)
#   VANTAGE_PORT           the direct API's port; the queue listens on PORT+1
#   VANTAGE_MODELS         weights to have installed before listening
#   VANTAGE_BAKED_WEIGHTS  weights baked into the image, used when complete
#   VANTAGE_KEYS_FILE      accepted API keys (required off loopback unless
#                          VANTAGE_AUTH=gateway: fal's gateway checks keys)
#   VANTAGE_CACHE_REMOTE, VANTAGE_OUTPUT_STORE, AWS_*, FAL_KEY: see deploy/README.md
# Arguments are passed on to `vantage serve`.
set -eu

data="${VANTAGE_DATA:-/data}"
port="${VANTAGE_PORT:-8080}"
models="${VANTAGE_MODELS:-tiny.en rife}"

probe="$data/.write-test-$$"
if ! mkdir -p "$data" 2>/dev/null || ! touch "$probe" 2>/dev/null; then
    echo "error: $data is not writable by uid $(id -u)." >&2
    echo "  Vantage keeps its cache, weights, queue and outputs there. Either mount a volume" >&2
    echo "  the user can write (docker run -v vantage-data:/data ..., or chown $(id -u) on the host folder)," >&2
    echo "  run the container as a user who can (--user), or set VANTAGE_DATA to a writable folder." >&2
    exit 78
fi
rm -f "$probe"

# Baked weights are used as they are; otherwise fetch into the shared /data
# (the store stages each file under a temporary name and renames it into
# place, so replicas starting together on one /data do not see half a file).
weights="$data/weights"
if [ -n "${VANTAGE_BAKED_WEIGHTS:-}" ] && VANTAGE_WEIGHTS="$VANTAGE_BAKED_WEIGHTS" vantage weights verify $models >/dev/null 2>&1; then
    weights="$VANTAGE_BAKED_WEIGHTS"
else
    VANTAGE_WEIGHTS="$weights" vantage weights fetch $models
fi

set -- --data "$data" --weights "$weights" \
    --listen "0.0.0.0:$port" --queue-listen "0.0.0.0:$((port + 1))" "$@"
if [ -n "${VANTAGE_KEYS_FILE:-}" ]; then
    set -- "$@" --keys-file "$VANTAGE_KEYS_FILE"
fi
if [ "${VANTAGE_AUTH:-}" = "gateway" ]; then
    set -- "$@" --gateway-auth
fi
for model in $models; do
    case "$model" in rife*) ;; *) set -- "$@" --warm "$model" ;; esac
done
exec vantage serve "$@"
