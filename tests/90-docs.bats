#!/usr/bin/env bats
# Documentation: the man pages lint clean and cover every tool, its usage and
# every option it lists; the completions ask the tools themselves.

load helpers

MAN=$CX_ROOT/man
COMPLETIONS=$CX_ROOT/completions

# The commands of cx that are its own (not a cx-NAME tool), one per line.
CX_OWN_COMMANDS='doctor
metrics
audit
audit prune
accounts add
accounts list'

# tools: the programs in bin/, one name per line.
tools() {
	local t

	for t in "$CX_ROOT"/bin/*; do
		[ -f "$t" ] && [ -x "$t" ] && basename "$t"
	done
}

# commands_of TOOL: TOOL and each of its subcommands ("cx-ingest serve"), one
# per line. A subcommand is a line of `--list-options` that does not start
# with a dash, or a word of `--list-commands`.
commands_of() {
	local sub

	echo "$1"
	if [ "$1" = cx ]; then
		sed 's/^/cx /' <<< "$CX_OWN_COMMANDS"
		return
	fi
	{
		"$1" --list-options 2> /dev/null | awk -F '\t' '$1 !~ /^-/ && $1 != "" { print $1 }'
		"$1" --list-commands 2> /dev/null | grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*$'
	} | sort -u | while read -r sub; do
		echo "$1 $sub"
	done
}

# undocumented PAGE COMMAND...: the options the command lists that PAGE has
# no `.It Fl` entry for (or a complaint when it lists none).
undocumented() {
	local page=$1 list name

	shift
	if ! list=$("$@" --list-options 2>&1) || [ -z "$list" ]; then
		echo "$* --list-options failed"
		return
	fi
	cut -f1 <<< "$list" | grep -- '^--' | while read -r name; do
		grep -qE "^\.It Fl ([^ ]+ , Fl )?${name#-}( |$)" "$page" || echo "$* $name"
	done
}

# synopsis PAGE: the SYNOPSIS section as rendered, whitespace collapsed.
synopsis() {
	mandoc -Tascii -O width=1000 "$1" | col -b |
		awk '/^[A-Z]/ { on = ($0 == "SYNOPSIS"); next } on' | tr -s ' \t\n' ' '
}

# usage COMMAND...: the usage text of --help without "usage: ", collapsed.
usage() {
	"$@" --help | awk 'NR == 1 { sub(/^usage: /, ""); print; next } /^       / { print; next } { exit }' |
		tr -s ' \t\n' ' '
}

# complete_bash WORD...: runs the bash completion with the cursor on the last
# word and prints COMPREPLY, one candidate per line.
complete_bash() {
	bash -c 'source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		_cx; printf "%s\n" "${COMPREPLY[@]}"' complete_bash "$COMPLETIONS/cx.bash" "$@"
}

@test "there are tools in bin/ and pages in man/" {
	[ -n "$(tools)" ]
	compgen -G "$MAN/man1/*.1" > /dev/null
	compgen -G "$MAN/man7/*.7" > /dev/null
}

@test "every man page is clean under mandoc -Tlint -W warning" {
	run mandoc -Tlint -W warning "$MAN"/man[1-9]/*.[1-9]
	assert_success
	assert_output ""
}

@test "every tool in bin/ has a man page man/man1/<tool>.1" {
	local missing=""

	for t in $(tools); do
		[ -f "$MAN/man1/$t.1" ] || missing+=" $t"
	done
	[ -z "$missing" ] || fail "no man page for:$missing"
}

@test "every man page has an EXIT STATUS section" {
	local missing=""

	for p in "$MAN"/man[1-9]/*.[1-9]; do
		grep -qx '\.Sh EXIT STATUS' "$p" || missing+=" ${p#"$MAN"/}"
	done
	[ -z "$missing" ] || fail "no EXIT STATUS in:$missing"
}

@test "each tool's page documents every option the tool and its subcommands list" {
	for t in $(tools); do
		[ -f "$MAN/man1/$t.1" ] || continue    # reported by the test above
		while read -r -a cmd; do
			# the dispatcher itself answers --list-commands only
			[ "${cmd[*]}" = cx ] && ! cx --list-options > /dev/null 2>&1 && continue
			undocumented "$MAN/man1/$t.1" "${cmd[@]}"
		done < <(commands_of "$t")
	done > missing
	[ ! -s missing ] || fail "$(echo "options without an .It Fl entry in their page:"; cat missing)"
}

@test "cx(1) documents the options of cx doctor, cx audit and cx audit prune" {
	run undocumented "$MAN/man1/cx.1" cx doctor
	assert_output ""
	run undocumented "$MAN/man1/cx.1" cx audit
	assert_output ""
	run undocumented "$MAN/man1/cx.1" cx audit prune
	assert_output ""
}

@test "cx(1) names every command cx --list-commands prints" {
	local missing=""

	for c in $(cx --list-commands); do
		grep -qE "^\.It Cm $c( |$)" "$MAN/man1/cx.1" || missing+=" $c"
	done
	[ -z "$missing" ] || fail "commands not in cx.1:$missing"
}

@test "the SYNOPSIS of each tool's page is the tool's usage text" {
	for t in $(tools); do
		[ -f "$MAN/man1/$t.1" ] || continue
		syn=$(synopsis "$MAN/man1/$t.1")
		while read -r -a cmd; do
			u=$(usage "${cmd[@]}")
			[[ $syn == *"$u"* ]] || echo "${cmd[*]}: $u"
		done < <(commands_of "$t")
	done > missing
	[ ! -s missing ] || fail "$(echo "usage text not in the page's SYNOPSIS:"; cat missing)"
}

@test "bash completion completes cx-dedupe --st to --stats" {
	run complete_bash cx-dedupe --st
	assert_success
	assert_output --stats
}

@test "bash completion completes cx ded to dedupe" {
	run complete_bash cx ded
	assert_success
	assert_output dedupe
}

@test "bash completion offers the options of a subcommand of cx" {
	run complete_bash cx audit --db x.db prune --old
	assert_success
	assert_output --older-than
}

@test "bash completion completes a --db value with file names" {
	touch state-a.db state-b.db
	run complete_bash cx-dedupe --db state-
	assert_success
	assert_equal "$(sort <<< "$output")" "$(printf '%s\n' state-a.db state-b.db)"
}

@test "bash completion asks a tool written after it for its options" {
	mkdir fakebin
	printf '#!/bin/sh\n[ "$1" = --list-options ] && printf "%%s\\t\\t%%s\\n" --frobnicate "do it"\n' > fakebin/cx-fake
	chmod +x fakebin/cx-fake
	PATH="$PWD/fakebin:$PATH" run complete_bash cx-fake --fro
	assert_output --frobnicate
	PATH="$PWD/fakebin:$PATH" run complete_bash cx fake --fro
	assert_output --frobnicate
}

@test "bash completion offers cx-publish feedback and its options" {
	run complete_bash cx-publish fe
	assert_success
	assert_output feedback
	run complete_bash cx-publish feedback --max
	assert_success
	assert_output --max-line
}

@test "bash completion offers cx-publish sheets, its options and file names for --from-csv" {
	run complete_bash cx-publish she
	assert_output sheets
	run complete_bash cx publish sheets --from
	assert_output --from-csv
	run complete_bash cx-publish sheets --from-csv log.csv --key
	assert_output --key-column
	touch log.csv
	run complete_bash cx-publish sheets --from-csv lo
	assert_output log.csv
}

@test "bash completion follows cx tenants and cx email to their commands and options" {
	run complete_bash cx tenants re
	assert_output resume
	run complete_bash cx tenants set acme --email-p
	assert_output --email-plan
	run complete_bash cx email suppressions a
	assert_output add
	run complete_bash cx email suppressions add ana@example.org --re
	assert_output --reason
	run complete_bash cx email check-domain acme.example --pro
	assert_output --provider
}

@test "bash completion follows cx integrations to its commands and options" {
	run complete_bash cx integrations rotate-s
	assert_output rotate-secret
	run complete_bash cx integrations create --sc
	assert_output --scopes
	run complete_bash cx-integrations subscribe int_1 --ev
	assert_output --event
}

@test "bash completion is registered for cx and the cx-* tools" {
	run bash -c 'source "$1"; complete -p cx cx-dedupe cx-sync' _ "$COMPLETIONS/cx.bash"
	assert_success
	assert_line 'complete -F _cx cx'
	assert_line 'complete -F _cx cx-dedupe'
	assert_line 'complete -F _cx cx-sync'
}

@test "the zsh completion passes zsh -n" {
	command -v zsh > /dev/null || skip "zsh is not installed"
	run zsh -n "$COMPLETIONS/_cx"
	assert_success
	assert_output ""
	assert_equal "$(head -n 1 "$COMPLETIONS/_cx" | cut -d' ' -f1-9)" \
		"#compdef cx cx-dedupe cx-ingest cx-parse cx-approve cx-publish cx-oauth cx-sync"
}

@test "the fish completion passes fish -n" {
	command -v fish > /dev/null || skip "fish is not installed"
	run fish -n "$COMPLETIONS/cx.fish"
	assert_success
	assert_output ""
}

@test "fish completion completes cx-dedupe --st to --stats" {
	command -v fish > /dev/null || skip "fish is not installed"
	run fish -c 'source $argv[1]; complete -C "cx-dedupe --st"' "$COMPLETIONS/cx.fish"
	assert_success
	assert_output --regexp $'^--stats\t'
}

@test "fish completion offers the options of cx-publish sheets" {
	command -v fish > /dev/null || skip "fish is not installed"
	run fish -c 'source $argv[1]; complete -C "cx-publish sheets --sp"' "$COMPLETIONS/cx.fish"
	assert_success
	assert_output --regexp $'^--spreadsheet\t'
}

@test "fish completion follows cx email suppressions to its commands" {
	command -v fish > /dev/null || skip "fish is not installed"
	run fish -c 'source $argv[1]; complete -C "cx email suppressions "' "$COMPLETIONS/cx.fish"
	assert_success
	assert_equal "$(cut -f1 <<< "$output" | sort)" "$(printf '%s\n' add list remove)"
}
