#compdef kubectl-ace
# zsh completion for kubectl-ace. Load it with: source <(kubectl-ace completion zsh)   (after compinit)
# (`kubectl ace <TAB>` is completed by kubectl itself through the kubectl_complete-ace shim:
# kubectl ace completion install)

_kubectl_ace() {
    local out directive line word
    local -a lines candidates nospace
    out=$("${words[1]}" completion __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive="${lines[-1]#:}"
    [[ "$directive" == <-> ]] || directive=0
    for line in "${(@)lines[1,-2]}"; do
        [[ -n "$line" ]] || continue
        word="${line%%$'\t'*}"
        if [[ "$line" == *$'\t'* ]]; then
            candidates+=("${word//:/\\:}:${line#*$'\t'}")
        else
            candidates+=("${word//:/\\:}")
        fi
    done
    if (( ${#candidates} )); then
        (( directive & 2 )) && nospace=(-S '')
        _describe -t values 'kubectl-ace' candidates "${nospace[@]}"
        return
    fi
    if (( directive & 16 )); then
        _path_files -/
    elif (( ! (directive & 4) )); then
        _files
    fi
}

if (( $+functions[compdef] )); then
    compdef _kubectl_ace kubectl-ace
else
    print -u2 "kubectl-ace completion: run compinit first (autoload -Uz compinit && compinit)"
fi
