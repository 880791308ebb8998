# fish completion for kubectl-ace. Load it with: kubectl-ace completion fish | source
# or save it as ~/.config/fish/completions/kubectl-ace.fish
# (`kubectl ace <TAB>` is completed by kubectl itself through the kubectl_complete-ace shim:
# kubectl ace completion install)

function __kubectl_ace_complete
    set -l args (commandline -opc)
    set -l program $args[1]
    set -e args[1]
    set -l out ($program completion __complete $args (commandline -ct) 2>/dev/null)
    or return
    test (count $out) -gt 0; or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    string match -qr '^[0-9]+$' -- $directive; or set directive 0
    set -e out[-1]
    if test (count $out) -gt 0
        printf '%s\n' $out
    else if test (math "bitand($directive, 16)") -ne 0
        __fish_complete_directories (commandline -ct)
    else if test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
    end
end

complete -c kubectl-ace -f -a '(__kubectl_ace_complete)'
