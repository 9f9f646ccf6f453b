"""Tab completion of ``al`` in bash and zsh: commands, and for ``al run`` Hydra's completion of
config groups, options and keys.

``al run -sc install=bash`` (or ``install=zsh``) prints the script that a shell evaluates:
``eval "$(al run -sc install=bash)"`` in ``~/.bashrc``. Hydra's own script cannot serve: it
registers ``al`` and ``run`` as two commands and asks ``al -sc query=bash``, which ``al``
refuses. Ours asks ``al run -sc query=bash`` with the words after ``run``, which Hydra answers
with a stand-in task that imports no torch, so a completion answers in about a second.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

COMMANDS = "run plot migrate --help --version"

BASH = r"""# al: tab completion for bash. Install: eval "$(al run -sc install=bash)"
_al_completion() {
    local line="${COMP_LINE:0:$COMP_POINT}"
    local -a words
    read -r -a words <<< "$line"
    # the text being completed, from the last space to the cursor ("" right after a space)
    local word="${line##*[[:space:]]}"
    local n=${#words[@]}
    [ -z "$word" ] && n=$((n + 1))
    if [ "$n" -le 2 ]; then
        COMPREPLY=($(compgen -W "__COMMANDS__" -- "$word"))
        return
    fi
    if [ "${words[1]}" != "run" ]; then
        COMPREPLY=($(compgen -f -- "$word"))
        return
    fi
    local rest="${line#*[[:space:]]run}"
    local choices
    choices=$(COMP_LINE="al $rest" "${words[0]}" run -sc query=bash 2>/dev/null)
    local -a matches
    matches=($(compgen -W "$choices" -- "$word"))
    # bash replaces only its own current word, which COMP_WORDBREAKS (= and :) may have cut
    # shorter than ours: drop the difference from each answer
    local cut=$(( ${#word} - ${#COMP_WORDS[COMP_CWORD]} ))
    COMPREPLY=("${matches[@]}")
    local i
    for i in "${!COMPREPLY[@]}"; do
        COMPREPLY[$i]="${COMPREPLY[$i]:$cut}"
    done
}
complete -o nospace -o default -F _al_completion al
"""

ZSH = r"""# al: tab completion for zsh. Install: eval "$(al run -sc install=zsh)" (after compinit)
_al() {
    if (( CURRENT == 2 )); then
        compadd -- __COMMANDS__
        return
    fi
    if [[ ${words[2]} != run ]]; then
        _files
        return
    fi
    local -a choices
    local line="al ${(j: :)words[3,CURRENT]}"
    choices=(${=$(COMP_LINE="$line" ${words[1]} run -sc query=bash 2>/dev/null)})
    compadd -S '' -- $choices
}
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit }
compdef _al al
"""

UNINSTALL = {
    "bash": "complete -r al 2>/dev/null; unset -f _al_completion\n",
    "zsh": "compdef -d al; unfunction _al\n",
}


def script(action: str, shell: str) -> str | None:
    """The text ``al run -sc ACTION=SHELL`` prints, or None for an unknown shell."""
    if shell not in ("bash", "zsh"):
        return None
    if action == "uninstall":
        return UNINSTALL[shell]
    return (BASH if shell == "bash" else ZSH).replace("__COMMANDS__", COMMANDS)


def completion_request(args: list[str]) -> tuple[str, str] | None:
    """``(action, shell)`` when ``al run ARGS`` asks for shell completion, else None."""
    if not any(a in ("-sc", "--shell-completion") for a in args):
        return None
    for arg in args:
        action, _, shell = arg.partition("=")
        if action in ("install", "uninstall", "query") and shell:
            return action, shell
    return "", ""


def answer(args: list[str]) -> int | None:
    """Handle ``al run -sc ...``: print our install script, or let Hydra answer a query with
    a stand-in task (no torch). Returns an exit status, or None when ARGS ask for nothing of
    the kind."""
    request = completion_request(args)
    if request is None:
        return None
    action, shell = request
    if action in ("install", "uninstall"):
        text = script(action, shell)
        if text is None:
            print(f"al run: error: no completion for {shell!r}; use bash or zsh", file=sys.stderr)
            return 2
        print(text, end="")
        return 0
    import al_cli.config  # noqa: F401  (the schemas the configs name)

    sys.argv = ["al run", *args]
    stand_in()
    return 0


@hydra.main(version_base="1.3", config_path="pkg://al_cli.configs", config_name="config")
def stand_in(cfg: DictConfig) -> None:
    """Never runs: Hydra answers a completion query from the configs alone."""
