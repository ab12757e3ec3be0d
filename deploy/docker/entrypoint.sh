#!/bin/sh
# The image's entry point: the first argument names the process to run.
# Each process listens on 0.0.0.0 inside a container unless <PREFIX>HOST says otherwise.
set -eu

process="${1:-gateway}"
[ "$#" -gt 0 ] && shift

case "$process" in
  gateway)       export GATEWAY_HOST="${GATEWAY_HOST:-0.0.0.0}";             exec python -m gateway.main "$@" ;;
  applications)  export APPLICATIONS_HOST="${APPLICATIONS_HOST:-0.0.0.0}";   exec python -m applications.main "$@" ;;
  credit-rating) export CREDIT_RATING_HOST="${CREDIT_RATING_HOST:-0.0.0.0}"; exec python -m credit_rating.main "$@" ;;
  risk-pool)     export RISK_POOL_HOST="${RISK_POOL_HOST:-0.0.0.0}";         exec python -m risk_pool.main "$@" ;;
  subsidy)       export SUBSIDY_HOST="${SUBSIDY_HOST:-0.0.0.0}";             exec python -m subsidy.main "$@" ;;
  # Create and migrate the databases of the named packages (all five when none is named).
  migrate)       exec python -m kit.migrations "$@" ;;
  # Block until the named packages' databases are at this image's head: SECONDS package...
  wait-for-migrations) exec python /opt/fupin/wait_for_migrations.py "$@" ;;
  # Create the services' own gateway accounts if missing: GATEWAY_BASE_URL [WAIT_SECONDS]
  ensure-service-accounts) exec python /opt/fupin/ensure_service_accounts.py "$@" ;;
  *)             exec "$process" "$@" ;;
esac
