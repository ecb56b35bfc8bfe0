# bash completion for cx and every cx-* tool.
#
# Nothing here knows a tool's options: at completion time the tools are asked.
#   cx --list-commands             the commands of the dispatcher
#   TOOL [SUB...] --list-commands  the subcommands of a tool, when it has some
#   TOOL [SUB...] --list-options   one line per option: --name<TAB>ARG<TAB>help,
#                                  and one per subcommand: NAME<TAB><TAB>help
# so a tool written after this file, or a new option, completes without any
# change here. A subcommand of a tool that does not answer --list-commands is
# recognised when `TOOL SUB --list-options` answers with other options than
# `TOOL --list-options` (`cx audit prune`).
#
# Installed as bash-completion/completions/cx, with a symlink per tool.

# _cx_ask WORD...: runs a cx command for completion data; nothing on failure.
_cx_ask()
{
	"$@" < /dev/null 2> /dev/null
}

# _cx_options WORD...: the "--name<TAB>ARG" lines of a command's options.
_cx_options()
{
	local line rest found=

	while IFS= read -r line; do
		[[ $line == --* ]] || continue
		rest=${line#*$'\t'}
		printf '%s\t%s\n' "${line%%$'\t'*}" "${rest%%$'\t'*}"
		found=1
	done < <(_cx_ask "$@" --list-options)
	if [[ -z $found && $# -eq 1 && ${1##*/} == cx ]]; then
		# the dispatcher's own options, should it not list them itself
		printf '%s\t\n' --help --version --list-commands
	fi
}

# _cx_commands WORD...: a command's subcommands, one a line, or nothing when
# it has none. They come from --list-commands (an answer that is not a list
# of words does not count), else from the lines of --list-options that name a
# command instead of an option ("serve<TAB><TAB>help").
_cx_commands()
{
	_cx_commands_listed "$@" | awk '!seen[$0]++'
}

_cx_commands_listed()
{
	local out line

	if [[ $# -eq 1 && ${1##*/} == cx ]]; then
		# cx runs any cx-NAME on PATH as `cx NAME`
		compgen -c -- cx- 2> /dev/null | sed -n 's/^cx-//p'
	fi
	if out=$(_cx_ask "$@" --list-commands); then
		while IFS= read -r line; do
			[[ $line =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || out=
		done <<< "$out"
		if [[ -n $out ]]; then
			printf '%s\n' "$out"
			return 0
		fi
	fi
	while IFS= read -r line; do
		[[ $line =~ ^([A-Za-z0-9][A-Za-z0-9._-]*)$'\t' ]] &&
			printf '%s\n' "${BASH_REMATCH[1]}"
	done < <(_cx_ask "$@" --list-options)
	return 0
}

# _cx_names OPTLINES: the option names alone.
_cx_names()
{
	local line

	while IFS= read -r line; do
		printf '%s\n' "${line%%$'\t'*}"
	done <<< "$1"
}

# _cx_option_arg OPTLINES NAME: the ARG placeholder of option NAME, or "".
_cx_option_arg()
{
	local line

	while IFS= read -r line; do
		if [[ ${line%%$'\t'*} == "$2" ]]; then
			printf '%s' "${line#*$'\t'}"
			return 0
		fi
	done <<< "$1"
	return 1
}

# _cx_value ARG CUR [PREFIX]: completes the value of an option by its
# placeholder; PREFIX ("--db=") is put back in front of each candidate.
_cx_value()
{
	local i

	case $1 in
	PATH | FILE | *FILE | *PATH)
		compopt -o filenames 2> /dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$2")
		;;
	DIR | *DIR)
		compopt -o filenames 2> /dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$2")
		;;
	TARGET)
		# the upload targets configured in the environment (CX_UPLOAD_URL_<TARGET>)
		mapfile -t COMPREPLY < <(compgen -W "$(compgen -e CX_UPLOAD_URL_ |
			sed 's/^CX_UPLOAD_URL_//' | tr 'A-Z' 'a-z')" -- "$2")
		;;
	*)
		COMPREPLY=()
		;;
	esac
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=$3${COMPREPLY[i]}
	done
}

_cx()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local -a cmd=("${COMP_WORDS[0]/#\~\//$HOME/}")
	local opts subs w arg i=1 operands=0 dashdash=0 name prefix

	COMPREPLY=()
	opts=$(_cx_options "${cmd[@]}")
	subs=$(_cx_commands "${cmd[@]}")

	# Walk the words before the cursor: skip options and their values, and
	# follow subcommands so that their own options are offered. Options may
	# follow operands (GNU order) until "--".
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		i=$((i + 1))
		if ((dashdash == 0)) && [[ $w == -- ]]; then
			dashdash=1
			continue
		fi
		if ((dashdash == 0)) && [[ $w == -?* ]]; then
			if [[ ${COMP_WORDS[i]} == = ]]; then
				i=$((i + 2))    # --name = value (= is a word break)
			elif [[ $w != *=* ]] && arg=$(_cx_option_arg "$opts" "$w") &&
				[[ -n $arg ]]; then
				i=$((i + 1))    # --name value
			fi
			continue
		fi
		if ((operands == 0 && dashdash == 0)) && _cx_is_subcommand "$w"; then
			cmd+=("$w")
			opts=$(_cx_options "${cmd[@]}")
			subs=$(_cx_commands "${cmd[@]}")
			continue
		fi
		operands=$((operands + 1))
	done

	# The value of an option: "--db PATH", "--db=PATH" or "--db = PATH".
	name= prefix=
	if [[ $cur == = && ${COMP_WORDS[COMP_CWORD - 1]} == --* ]]; then
		name=${COMP_WORDS[COMP_CWORD - 1]}
		cur=
	elif [[ ${COMP_WORDS[COMP_CWORD - 1]} == = && ${COMP_WORDS[COMP_CWORD - 2]} == --* ]]; then
		name=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		name=${cur%%=*}
		prefix=$name=
		cur=${cur#*=}
	elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD - 1]} == -?* ]]; then
		name=${COMP_WORDS[COMP_CWORD - 1]}
	fi
	if [[ -n $name ]] && arg=$(_cx_option_arg "$opts" "$name") && [[ -n $arg ]]; then
		_cx_value "$arg" "$cur" "$prefix"
		return 0
	fi

	if ((dashdash == 0)) && [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_cx_names "$opts")" -- "$cur")
		return 0
	fi
	if ((operands == 0 && dashdash == 0)) && [[ -n $subs ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
		return 0
	fi
	compopt -o filenames 2> /dev/null
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	return 0
}

# _cx_is_subcommand WORD: whether WORD names a subcommand of cmd: one it
# lists, or one whose options differ from cmd's (uses the caller's cmd, opts
# and subs).
_cx_is_subcommand()
{
	local line other

	if [[ -n $subs ]]; then
		while IFS= read -r line; do
			[[ $line == "$1" ]] && return 0
		done <<< "$subs"
	fi
	other=$(_cx_options "${cmd[@]}" "$1")
	[[ -n $other && $other != "$opts" ]]
}

# The known tools and every cx-* command on PATH now; bash-completion finds
# this file for a tool added later through its symlink.
_cx_register()
{
	local -a names=(cx cx-dedupe cx-ingest cx-parse cx-approve cx-publish cx-oauth cx-sync
		cx-tenants cx-email cx-integrations)
	local n

	while IFS= read -r n; do
		[[ $n == cx-* ]] && names+=("$n")
	done < <(compgen -c -- cx- 2> /dev/null)
	complete -F _cx "${names[@]}"
}
_cx_register
unset -f _cx_register
