# bash completion for kubectl-ace. Load it with: source <(kubectl-ace completion bash)
# (`kubectl ace <TAB>` is completed by kubectl itself through the kubectl_complete-ace shim:
# kubectl ace completion install)

_kubectl_ace() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="${COMP_WORDS[COMP_CWORD]}" out directive candidate
    local -a words
    read -r -a words <<< "$line"
    [[ "$line" =~ [[:space:]]$ || ${#words[@]} -eq 0 ]] && words+=("")
    out=$("${words[0]}" completion __complete "${words[@]:1}" 2>/dev/null) || return 0
    directive="${out##*:}"
    [[ "$directive" =~ ^[0-9]+$ ]] || directive=0
    out="${out%:*}"
    # bash breaks words at '=' and ':' and replaces only the part after the break: drop what precedes it.
    local full="${words[${#words[@]}-1]}"
    local strip="${full%"$cur"}"
    COMPREPLY=()
    while IFS= read -r candidate; do
        [[ -n "$candidate" ]] || continue
        candidate="${candidate%%$'\t'*}"
        COMPREPLY+=("${candidate#"$strip"}")
    done <<< "$out"
    if (( directive & 2 )); then compopt -o nospace 2>/dev/null; fi
    if (( ${#COMPREPLY[@]} == 0 )); then
        if (( directive & 16 )); then
            compopt -o dirnames 2>/dev/null
        elif (( directive & 4 )); then
            compopt +o default 2>/dev/null
        fi
    fi
    return 0
}

complete -o default -F _kubectl_ace kubectl-ace
