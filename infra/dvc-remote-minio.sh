#!/usr/bin/env bash
# Add the team's MinIO (or any S3-compatible) bucket as a DVC remote of the DVC project
# in the current directory.
#
#   infra/dvc-remote-minio.sh [--name minio] [--bucket facealign-dvc]
#                             [--endpoint http://127.0.0.1:9000] [--default] [--local]
#
#   --default   make it the default remote (`dvc push`/`dvc pull` without -r)
#   --local     write the remote only to .dvc/config.local (inside containers, or when
#               your endpoint differs from the team's); without it the url and endpoint
#               go to .dvc/config, to be committed so the team shares them
#
# Credentials never go to .dvc/config: they are written to .dvc/config.local, which DVC
# keeps git-ignored. They are taken from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when
# set, else from S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY in infra/.env (the compose
# deployment's access key). Pushing and pulling need DVC's S3 plugin: pip install 'dvc[s3]'.
set -euo pipefail

name=minio
bucket=${DVC_BUCKET:-facealign-dvc}
endpoint=${DVC_S3_ENDPOINT:-http://127.0.0.1:9000}
default=()
level=()

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name=$2; shift 2 ;;
    --bucket) bucket=$2; shift 2 ;;
    --endpoint) endpoint=$2; shift 2 ;;
    --default) default=(--default); shift ;;
    --local) level=(--local); shift ;;
    -h|--help) usage 0 ;;
    *) echo "dvc-remote-minio: unknown argument: $1" >&2; usage 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
dvc=$(command -v dvc || true)
if [[ -z "$dvc" && -x "$here/../.venv/bin/dvc" ]]; then dvc="$here/../.venv/bin/dvc"; fi
if [[ -z "$dvc" ]]; then echo "dvc-remote-minio: dvc not found (activate .venv)" >&2; exit 1; fi

# KEY=VALUE from infra/.env without executing it.
env_value() {
  [[ -f "$here/.env" ]] || return 0
  sed -n "s/^$1=//p" "$here/.env" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}
key_id=${AWS_ACCESS_KEY_ID:-$(env_value S3_ACCESS_KEY_ID)}
secret=${AWS_SECRET_ACCESS_KEY:-$(env_value S3_SECRET_ACCESS_KEY)}
if [[ -z "$key_id" || -z "$secret" ]]; then
  echo "dvc-remote-minio: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY," \
       "or S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY in infra/.env" >&2
  exit 1
fi
if [[ "$secret" == change-me* ]]; then
  echo "dvc-remote-minio: the secret is still the placeholder from .env.example; set a real one" >&2
  exit 1
fi

"$dvc" remote add "${level[@]}" "${default[@]}" --force "$name" "s3://$bucket"
"$dvc" remote modify "${level[@]}" "$name" endpointurl "$endpoint"
"$dvc" remote modify --local "$name" access_key_id "$key_id"
"$dvc" remote modify --local "$name" secret_access_key "$secret"

echo "DVC remote '$name' -> s3://$bucket at $endpoint (credentials in .dvc/config.local)"
if ! "$dvc" version 2>/dev/null | grep -qw s3; then
  echo "note: DVC's S3 plugin is not installed here: pip install 'dvc[s3]'"
fi
