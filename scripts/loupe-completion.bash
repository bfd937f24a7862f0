# Bash completion for loupe: subcommands, each subcommand's options, explainer names, pipeline files, and
# the columns of the --data file for --target. `cmake --install` puts it where bash-completion finds it
# (share/bash-completion/completions/loupe); from a checkout: source scripts/loupe-completion.bash
#
# Commands and options are read from `loupe --help` and `loupe COMMAND --help` (and explainers from
# `loupe plugins`) of the loupe being completed, so the completion never lists an option that binary lacks.

# The words of section $2 ("commands:" or "options:") of `loupe ... --help`: the first word of each line
# for commands, every -x/--flag for options.
_loupe_help_section() {
  local section=$1
  shift
  "$@" --help 2>/dev/null | awk -v section="$section" '
    $0 == section { inside = 1; next }
    inside && /^$/ { exit }
    inside && section == "commands:" { print $1 }
    inside && section == "options:" {
      for (i = 1; i <= NF; i++) {
        word = $i; sub(/,$/, "", word)
        if (word ~ /^--?[A-Za-z]/) print word; else if (i > 1) break
      }
    }'
}

# Files whose names match the extended regular expression $2 (and folders, to descend into).
_loupe_files() {
  local cur=$1 pattern=$2 file
  local IFS=$'\n'
  for file in $(compgen -f -- "$cur"); do
    if [[ -d $file || $file =~ $pattern ]]; then COMPREPLY+=("$file"); fi
  done
  compopt -o filenames 2>/dev/null || true
}

_loupe_folders() {
  local IFS=$'\n'
  COMPREPLY+=($(compgen -d -- "$1"))
  compopt -o filenames 2>/dev/null || true
}

# The header of the file given to --data earlier on the line, one column name per line.
_loupe_data_columns() {
  local i data=""
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    [[ ${COMP_WORDS[i]} == --data ]] && data=${COMP_WORDS[i + 1]}
  done
  [[ -r $data ]] || return 0
  head -n 1 -- "$data" | tr -d '\r"' | tr ',' '\n'
}

# Completes the value of option $1 (the previous word); returns 1 when $1 takes no value we know.
_loupe_option_value() {
  local option=$1 command=$2 cur=$3
  local IFS=$'\n'
  case $option in
    --data) _loupe_files "$cur" '\.(csv|CSV)$' ;;
    --model) _loupe_files "$cur" '\.(ya?ml|json)$' ;;
    --plugin-path | --resume) _loupe_folders "$cur" ;;
    --target) COMPREPLY=($(compgen -W "$(_loupe_data_columns)" -- "$cur")) ;;
    -o | --output)
      case $command in
        run) _loupe_folders "$cur" ;;
        init) _loupe_files "$cur" '\.ya?ml$' ;;
        *) _loupe_files "$cur" '.' ;;
      esac
      ;;
    --threads | --seed | --set | --max-memory | --chunk-rows) ;;  # a number, KEY.PATH=VALUE or a size: nothing to offer
    *) return 1 ;;
  esac
  return 0
}

_loupe() {
  local loupe=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local IFS=$'\n'
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$(_loupe_help_section commands: "$loupe")"$'\n--help\n--version' -- "$cur"))
    return 0
  fi
  local command=${COMP_WORDS[1]}
  if ((COMP_CWORD > 2)) && _loupe_option_value "$prev" "$command" "$cur"; then return 0; fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_loupe_help_section options: "$loupe" "$command")" -- "$cur"))
    return 0
  fi
  case $command in
    run | validate) _loupe_files "$cur" '\.ya?ml$' ;;
    describe) COMPREPLY=($(compgen -W "$("$loupe" plugins 2>/dev/null | awk '/^  [^ ]/ { print $1 }')" -- "$cur")) ;;
    report) _loupe_folders "$cur" ;;
    help) COMPREPLY=($(compgen -W "$(_loupe_help_section commands: "$loupe")" -- "$cur")) ;;
  esac
  return 0
}

complete -F _loupe loupe
