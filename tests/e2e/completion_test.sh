#!/usr/bin/env bash
# The bash completion (scripts/loupe-completion.bash): its syntax (`bash -n`), then the completion function
# called as bash calls it (COMP_WORDS, COMP_CWORD) against the built loupe: subcommands, each subcommand's
# options as its --help lists them, explainer names, pipeline and CSV files, and the --data file's columns.
#
#   completion_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR
set -uo pipefail
loupe=$1 source_dir=$2 work=$3
script=$source_dir/scripts/loupe-completion.bash

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

bash -n "$script" || fail "bash -n $script"
# shellcheck source=/dev/null
source "$script"
complete -p loupe >/dev/null 2>&1 || fail "sourcing the script does not register a completion for loupe"

# Completes the words "$@" (the last one being completed) and prints the suggestions, one per line.
suggest() {
  COMP_WORDS=("$loupe" "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  _loupe
  printf '%s\n' "${COMPREPLY[@]}"
}

# expect WORD... -- SUGGESTION...: every suggestion is offered; "!X" means X must not be.
expect() {
  local words=() wanted
  while [[ $1 != -- ]]; do words+=("$1") && shift; done
  shift
  local got
  got=$(suggest "${words[@]}")
  for wanted in "$@"; do
    if [[ $wanted == !* ]]; then
      grep -qxF -- "${wanted#!}" <<<"$got" && fail "'loupe ${words[*]}<TAB>' offers ${wanted#!}: $(tr '\n' ' ' <<<"$got")"
    else
      grep -qxF -- "$wanted" <<<"$got" || fail "'loupe ${words[*]}<TAB>' lacks $wanted: $(tr '\n' ' ' <<<"$got")"
    fi
  done
}

rm -rf "$work" && mkdir -p "$work/sub" && cd "$work" || exit 1
printf 'version: 1\n' >audit.yaml
printf 'age,income,label\n1,2,yes\n' >people.csv
touch notes.txt

expect '' -- run validate init predict plugins describe schema report version --help --version
expect 'in' -- init '!run'
expect run --th -- --threads '!--seed'
expect run audit.yaml - -- -o --output --threads --seed --set --plugin-path --isolate --max-memory -q --quiet -h --help
expect predict --m -- --model
expect init --data people.csv --target '' -- age income label
expect run '' -- audit.yaml sub '!people.csv' '!notes.txt'
expect predict --data '' -- people.csv sub '!audit.yaml'
expect run -o '' -- sub '!audit.yaml'
expect describe shap.k -- shap.kernel '!lime.tabular'
expect help pre -- predict

# Every option each subcommand's --help lists is offered after "-".
for command in $(suggest ''); do
  [[ $command == -* ]] && continue
  listed=$("$loupe" "$command" --help | awk '$0 == "options:" { on = 1; next } on && /^$/ { exit } on' |
    grep -oE -- '--[a-z][-a-z]*' | sort -u)
  [[ -n $listed ]] || fail "'loupe $command --help' lists no options"
  for option in $listed; do expect "$command" - -- "$option"; done
done

if ((failures > 0)); then
  echo "$failures completion check(s) failed" >&2
  exit 1
fi
echo "completion: ok"
