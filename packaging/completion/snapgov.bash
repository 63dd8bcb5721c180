# bash completion for snapgov(1)                                  -*- shell-script -*-
#
# Installed as share/bash-completion/completions/snapgov. Every command and option of
# `snapgov --help` and `snapgov COMMAND --help` is in the tables below; the test
# "packaging: bash completion offers every command and option" fails when one is missing.
# Works with or without the bash-completion package (it uses _filedir when there is one).

# The commands below each command path (`snapgov`, `snapgov dump`, ...).
declare -gA _snapgov_commands=(
    ["snapgov"]="policy inventory plan enforce daemon status dump checkpoint evidence"
    ["snapgov policy"]="check"
    ["snapgov dump"]="encrypt decrypt wipe scan recover"
    ["snapgov checkpoint"]="create revert"
    ["snapgov evidence"]="keygen verify head export"
)

# The options of each command path. `--log-level` is global: CLI11 takes it after a command
# too, so it is offered everywhere.
declare -gA _snapgov_options=(
    ["snapgov"]="-h --help --version --log-level"
    ["snapgov policy"]="-h --help --log-level"
    ["snapgov policy check"]="-h --help --now --log-level"
    ["snapgov inventory"]="-h --help -c --config --format --now --log-level"
    ["snapgov plan"]="-h --help -c --config --format --now --log-level"
    ["snapgov enforce"]="-h --help -c --config --format --now --once --dry-run --log-level"
    ["snapgov daemon"]="-h --help -c --config --log-format --log-level"
    ["snapgov status"]="-h --help -c --config --socket --format --log-level"
    ["snapgov dump"]="-h --help --log-level"
    ["snapgov dump encrypt"]="-h --help -r --recipient --keep --state-dir --format --log-level"
    ["snapgov dump decrypt"]="-h --help -i --identity -o --output --format --log-level"
    ["snapgov dump wipe"]="-h --help --format --log-level"
    ["snapgov dump scan"]="-h --help -c --config --format --log-level"
    ["snapgov dump recover"]="-h --help --state-dir --format --list --settle --keep-plaintext --keep-ciphertext --forget -i --identity --log-level"
    ["snapgov checkpoint"]="-h --help --log-level"
    ["snapgov checkpoint create"]="-h --help -c --config --provider --timeout --description --disk-only --dir --log-level"
    ["snapgov checkpoint revert"]="-h --help -c --config --provider --timeout -i --identity --force --log-level"
    ["snapgov evidence"]="-h --help --log-level"
    ["snapgov evidence keygen"]="-h --help -o --output --log-level"
    ["snapgov evidence verify"]="-h --help -c --config --public-key --expect-head --format --host --log-level"
    ["snapgov evidence head"]="-h --help -c --config --format --host --log-level"
    ["snapgov evidence export"]="-h --help -c --config --format --since --until -o --output --host --log-level"
)

# What the positional arguments of a command path are: file, age (a .age file), path (file
# or folder), yaml (a policy file), text (a VM or checkpoint name: no closed set, so file
# names, like readline's default). Commands not listed take none.
declare -gA _snapgov_positionals=(
    ["snapgov policy check"]=yaml
    ["snapgov dump encrypt"]=file
    ["snapgov dump decrypt"]=age
    ["snapgov dump wipe"]=file
    ["snapgov dump scan"]=path
    ["snapgov checkpoint create"]=text
    ["snapgov checkpoint revert"]=text
)

# Options that take a value, and what the value is: a word list, or file, dir, yaml, now, id,
# text. A key "COMMAND PATH OPTION" overrides the option's entry for that command path only.
# text is free text with no closed set (a host id, SEQ:HASH): like readline's default, it
# falls back to file names.
declare -gA _snapgov_values=(
    [--log-level]="debug info warning error"
    [--format]="text json"
    [--log-format]="auto text journal json"
    [-c]=yaml [--config]=yaml
    [--now]=now
    [--socket]=file
    [-r]=file [--recipient]=file
    [--state-dir]=dir
    [-i]=file [--identity]=file
    [-o]=file [--output]=file
    [--settle]=id
    [--public-key]=file
    [--expect-head]=text
    [--host]=text
    [--provider]=text [--description]=text [--timeout]=text
    [--dir]=dir
    [--since]=now [--until]=now
    ["snapgov evidence export --format"]="json csv oscal"
)

# Adds files (or folders: kind dir; policy files: kind yaml; age files: kind age) that
# start with $1 to COMPREPLY.
_snapgov_files() {
    local cur=$1 kind=$2
    compopt -o filenames 2>/dev/null
    if declare -F _filedir >/dev/null; then
        case $kind in
            dir) _filedir -d ;;
            yaml) _filedir '@(yaml|yml)' ;;
            age) _filedir age ;;
            *) _filedir ;;
        esac
        return
    fi
    case $kind in
        dir) mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$cur") ;;
        *) mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur") ;;
    esac
}

# Adds the words of the list $1 that start with $2 to COMPREPLY.
_snapgov_words() {
    mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$1" -- "$2")
}

# Adds the IDs of the unsettled dump operations (journals in --state-dir, default
# /var/lib/snapgov) that start with $1 to COMPREPLY.
_snapgov_ids() {
    local dir=/var/lib/snapgov j f ids=()
    for ((j = 1; j < COMP_CWORD; j++)); do
        [[ ${COMP_WORDS[j]} == --state-dir ]] && dir=${COMP_WORDS[j + 1]}
    done
    for f in "$dir"/protect-*.journal; do
        [[ -e $f ]] || continue
        f=${f##*/protect-}
        ids+=("${f%.journal}")
    done
    _snapgov_words "${ids[*]}" "$1"
}

# Completes the value of option $1 from the word $2.
# The command path ($path, set by _snapgov) may override the option's values.
_snapgov_value() {
    local option=$1 cur=$2 kind=${_snapgov_values[$1]}
    [[ -n ${_snapgov_values["$path $option"]+set} ]] && kind=${_snapgov_values["$path $option"]}
    case $kind in
        file | dir | yaml | age) _snapgov_files "$cur" "$kind" ;;
        text) _snapgov_files "$cur" file ;;
        now) _snapgov_words "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$cur" ;;
        id) _snapgov_ids "$cur" ;;
        *) _snapgov_words "$kind" "$cur" ;;
    esac
}

_snapgov() {
    COMPREPLY=()
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

    # The command path chosen so far: words that are neither options nor option values.
    local path=snapgov word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            # An option's value is the next word, unless written as --opt=value.
            if [[ $word != *=* && -n ${_snapgov_values[$word]+set} ]] &&
                [[ ${COMP_WORDS[i + 1]} != "=" ]]; then
                ((i++))
            fi
            continue
        fi
        [[ $word == "=" ]] && { ((i++)); continue; }
        local candidate="$path $word"
        if [[ -n ${_snapgov_options[$candidate]+set} ]] &&
            [[ " ${_snapgov_commands[$path]} " == *" $word "* ]]; then
            path=$candidate
        fi
    done

    # `--format=js`: bash splits at `=` (COMP_WORDBREAKS), so the option is one or two
    # words back; a single word `--format=js` comes from callers that do not split.
    if [[ $cur == "=" && $prev == -* ]]; then
        [[ -n ${_snapgov_values[$prev]+set} ]] && _snapgov_value "$prev" ""
        return 0
    fi
    if [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
        local option=${COMP_WORDS[COMP_CWORD - 2]}
        [[ -n ${_snapgov_values[$option]+set} ]] && _snapgov_value "$option" "$cur"
        return 0
    fi
    if [[ $cur == --*=* ]]; then
        local option=${cur%%=*}
        if [[ -n ${_snapgov_values[$option]+set} ]]; then
            _snapgov_value "$option" "${cur#*=}"
            COMPREPLY=("${COMPREPLY[@]/#/$option=}")
        fi
        return 0
    fi

    if [[ $prev == -* && -n ${_snapgov_values[$prev]+set} ]]; then
        _snapgov_value "$prev" "$cur"
        return 0
    fi

    if [[ $cur == -* ]]; then
        _snapgov_words "${_snapgov_options[$path]}" "$cur"
        return 0
    fi
    if [[ -n ${_snapgov_commands[$path]+set} ]]; then
        _snapgov_words "${_snapgov_commands[$path]}" "$cur"
        return 0
    fi
    if [[ -n ${_snapgov_positionals[$path]+set} ]]; then
        _snapgov_files "$cur" "${_snapgov_positionals[$path]}"
    fi
    return 0
}

complete -F _snapgov snapgov
