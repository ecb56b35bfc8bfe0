# fish completion for cx and every cx-* tool.
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
# Installed as fish/vendor_completions.d/cx.fish.

# __cx_ask WORD...: runs a cx command for completion data; nothing on failure.
function __cx_ask
    $argv </dev/null 2>/dev/null
end

# __cx_options WORD...: the command's "--name<TAB>ARG<TAB>help" lines.
function __cx_options
    set -l lines (__cx_ask $argv --list-options | string match -- '--*')
    if test (count $lines) -eq 0 -a (count $argv) -eq 1
        and test (string replace -r '.*/' '' -- $argv[1]) = cx
        # the dispatcher's own options, should it not list them itself
        set lines --help\t\t'show the usage text' --version\t\t'show the version' \
            --list-commands\t\t'list the commands'
    end
    string join \n -- $lines
end

# __cx_commands WORD...: the command's subcommands as "NAME<TAB>help" lines,
# or nothing when it has none. They come from --list-commands (an answer that
# is not a list of words does not count), else from the lines of
# --list-options that name a command instead of an option
# ("serve<TAB><TAB>help").
function __cx_commands
    set -l listed (__cx_commands_listed $argv)
    string join \n -- $listed
    if test (count $argv) -eq 1
        and test (string replace -r '.*/' '' -- $argv[1]) = cx
        # cx runs any cx-NAME on PATH as `cx NAME`
        set -l names (string replace -r '\t.*' '' -- $listed)
        set -l found $PATH/cx-*
        for tool in (string replace -r '.*/cx-' '' -- $found)
            contains -- $tool $names
            or begin
                set -a names $tool
                echo $tool
            end
        end
    end
end

function __cx_commands_listed
    set -l out (__cx_ask $argv --list-commands)
    and not string match -qvr '^[A-Za-z0-9][A-Za-z0-9._-]*$' -- $out
    and test (count $out) -gt 0
    and string join \n -- $out
    and return 0
    for line in (__cx_ask $argv --list-options)
        string match -qr '^[A-Za-z0-9][A-Za-z0-9._-]*\t' -- $line
        or continue
        set -l f (string split \t -- $line)
        printf '%s\t%s\n' $f[1] $f[3]
    end
end

# __cx_arg NAME LINE...: the ARG placeholder of option NAME; fails when NAME
# is not an option.
function __cx_arg
    set -l name $argv[1]
    for line in $argv[2..-1]
        set -l f (string split \t -- $line)
        if test "$f[1]" = "$name"
            echo $f[2]
            return 0
        end
    end
    return 1
end

# __cx_value ARG CUR [PREFIX]: candidates for an option's value.
function __cx_value
    set -l prefix ''
    set -q argv[3]; and set prefix $argv[3]
    switch $argv[1]
        case PATH FILE '*FILE' '*PATH'
            for p in (__fish_complete_path $argv[2])
                echo $prefix$p
            end
        case DIR '*DIR'
            for p in (__fish_complete_directories $argv[2])
                echo $prefix$p
            end
        case TARGET
            # the upload targets configured in the environment (CX_UPLOAD_URL_<TARGET>)
            for v in (set -nx | string match 'CX_UPLOAD_URL_*')
                echo $prefix(string lower (string replace CX_UPLOAD_URL_ '' $v))
            end
    end
end

function __cx_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l cmd (string replace -r '^~/' "$HOME/" -- $tokens[1])
    set -l opts (__cx_options $cmd)
    set -l subs (__cx_commands $cmd)
    set -l operands 0
    set -l dashdash 0
    set -l i 2

    # Walk the words before the cursor: skip options and their values, and
    # follow subcommands so that their own options are offered. Options may
    # follow operands (GNU order) until "--".
    while test $i -le (count $tokens)
        set -l w $tokens[$i]
        set i (math $i + 1)
        if test $dashdash -eq 0 -a "$w" = --
            set dashdash 1
            continue
        end
        if test $dashdash -eq 0; and string match -q -- '-?*' $w
            if not string match -q -- '*=*' $w
                set -l arg (__cx_arg $w $opts)
                and test -n "$arg"
                and set i (math $i + 1)
            end
            continue
        end
        if test $operands -eq 0 -a $dashdash -eq 0
            # a subcommand it lists, or one whose options differ from cmd's
            if contains -- $w (string replace -r '\t.*' '' -- $subs)
                set -a cmd $w
                set opts (__cx_options $cmd)
                set subs (__cx_commands $cmd)
                continue
            end
            set -l other (__cx_options $cmd $w)
            if test (count $other) -gt 0; and test "$other" != "$opts"
                set -a cmd $w
                set opts $other
                set subs (__cx_commands $cmd)
                continue
            end
        end
        set operands (math $operands + 1)
    end

    # The value of an option: "--db PATH" or "--db=PATH".
    if test $dashdash -eq 0; and string match -q -- '--*=*' $cur
        set -l name (string replace -r '=.*' '' -- $cur)
        set -l arg (__cx_arg $name $opts)
        if test -n "$arg"
            __cx_value $arg (string replace -r '^[^=]*=' '' -- $cur) $name=
            return
        end
    end
    if test $dashdash -eq 0 -a (count $tokens) -gt 1
        and string match -q -- '-?*' $tokens[-1]
        set -l arg (__cx_arg $tokens[-1] $opts)
        if test -n "$arg"
            __cx_value $arg $cur
            return
        end
    end

    if test $dashdash -eq 0; and string match -q -- '-*' $cur
        for line in $opts
            set -l f (string split \t -- $line)
            printf '%s\t%s\n' $f[1] $f[3]
        end
        return
    end
    if test $operands -eq 0 -a $dashdash -eq 0 -a (count $subs) -gt 0
        string join \n -- $subs
        return
    end
    __fish_complete_path $cur
end

# The known tools and every cx-* command on PATH now.
set -l __cx_found $PATH/cx-*
for c in cx cx-dedupe cx-ingest cx-parse cx-approve cx-publish cx-oauth cx-sync cx-tenants cx-email cx-integrations \
        (string replace -r '.*/' '' -- $__cx_found)
    complete -c $c -e
    complete -c $c -f -a '(__cx_complete)'
end
