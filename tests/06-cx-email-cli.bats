#!/usr/bin/env bats
# cx-email: the suppression list (list, add, remove; owners and admins,
# audited) and check-domain against a real DNS server started here
# (dnsmasq, Debian's dnsmasq-base) holding SPF, DMARC and DKIM records.

load helpers
load lib/serve

ME=$(id -un)

teardown() {
	kill_started
}

# as_owner: makes the running user the owner of a new state file.
as_owner() {
	cx-approve operators add "$ME" --role owner 2> /dev/null
}

# audit_rows ACTION: the audit rows of ACTION as {actor, subject, detail}.
audit_rows() {
	cx audit --json | jq -c --arg a "$1" 'select(.action == $a) | {actor, subject, detail}'
}

# The zone the DNS server answers for: everything under .test is local to
# it (a name it lacks is NXDOMAIN); names elsewhere it refuses.
write_zone() {
	cat > dns.conf <<-'EOF'
	listen-address=127.0.0.1
	bind-interfaces
	no-resolv
	no-hosts
	local=/test/
	# SES, all good: SPF with its include, DMARC reject, three Easy DKIM CNAMEs
	txt-record=good.test,"v=spf1 include:amazonses.com -all"
	txt-record=_dmarc.good.test,"v=DMARC1; p=reject; rua=mailto:dmarc@good.test"
	txt-record=tok1.dkim.amazonses.com,"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1"
	txt-record=tok2.dkim.amazonses.com,"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC2"
	txt-record=tok3.dkim.amazonses.com,"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC3"
	cname=tok1._domainkey.good.test,tok1.dkim.amazonses.com
	cname=tok2._domainkey.good.test,tok2.dkim.amazonses.com
	cname=tok3._domainkey.good.test,tok3.dkim.amazonses.com
	# SendGrid, all good: s1 a CNAME into sendgrid.net, s2 a TXT key
	txt-record=sg.test,"v=spf1 include:_spf.mx.example include:sendgrid.net ~all"
	txt-record=_dmarc.sg.test,"v=DMARC1; p=quarantine"
	txt-record=s1.domainkey.u1.wl.sendgrid.net,"k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQD1"
	cname=s1._domainkey.sg.test,s1.domainkey.u1.wl.sendgrid.net
	txt-record=s2._domainkey.sg.test,"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQD2"
	# DMARC that only reports
	txt-record=weak.test,"v=spf1 include:sendgrid.net -all"
	txt-record=_dmarc.weak.test,"v=DMARC1; p=none"
	txt-record=s1._domainkey.weak.test,"v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQE1"
	txt-record=s2._domainkey.weak.test,"v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQE2"
	# SPF without the provider; DKIM s2 missing; another TXT record beside
	txt-record=noinc.test,"v=spf1 include:_spf.mx.example -all"
	txt-record=noinc.test,"google-site-verification=abc"
	txt-record=_dmarc.noinc.test,"v=DMARC1; p=reject"
	txt-record=s1._domainkey.noinc.test,"v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQF1"
	# Mailgun: only its k1 selector, an SPF that lets anyone send
	txt-record=mg.test,"v=spf1 include:mailgun.org +all"
	txt-record=_dmarc.mg.test,"v=DMARC1; p=reject"
	txt-record=k1._domainkey.mg.test,"k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQG1"
	# two SPF records, a DKIM CNAME outside the provider, a revoked key
	txt-record=dup.test,"v=spf1 include:sendgrid.net -all"
	txt-record=dup.test,"v=spf1 include:sendgrid.net ~all"
	txt-record=s1.keys.elsewhere.test,"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQH1"
	cname=s1._domainkey.dup.test,s1.keys.elsewhere.test
	txt-record=s2._domainkey.dup.test,"v=DKIM1; k=rsa; p="
	EOF
}

# start_dns: dnsmasq on a free UDP port of 127.0.0.1, as the user running
# the test (it is in /usr/sbin, off a user's PATH on Debian);
# CX_DNS_SERVER names it.
start_dns() {
	local dnsmasq port pid try

	dnsmasq=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
	write_zone
	for try in 1 2 3 4 5; do
		port=$($PY -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		"$dnsmasq" --keep-in-foreground --conf-file="$PWD/dns.conf" --port="$port" \
			--pid-file= --user="$ME" --log-facility=- 2> dns.log &
		pid=$!
		track "$pid"
		wait_for 5 grep -q 'cleared cache\|failed' dns.log || true
		if alive "$pid" && grep -q 'cleared cache' dns.log; then
			export CX_DNS_SERVER="127.0.0.1:$port"
			return 0
		fi
	done
	cat dns.log >&2
	return 1
}

# --- the suppression list ---------------------------------------------------

@test "an owner adds, lists and removes a suppression; each change is audited and counted" {
	as_owner
	run --separate-stderr cx email suppressions add Jane.Doe@Example.COM --tenant acme \
		--reason "asked by phone"
	assert_success
	assert_output ""
	[[ $stderr == *'j***@example.com suppressed for acme'* ]]
	CX_NOW=1796558400 cx email suppressions add bob@example.net --tenant '*default' \
		--reason "hard bounce, checked by hand" 2> /dev/null
	run cx email suppressions list --json
	assert_success
	assert_line --index 0 --regexp '^\{"scope":"\*default","address":"bob@example.net","reason":"hard bounce, checked by hand","source":"'"$ME"'","created_at":"2026-12-06T12:00:00Z"\}$'
	assert_line --index 1 --regexp '^\{"scope":"acme","address":"jane.doe@example.com","reason":"asked by phone","source":"'"$ME"'","created_at":"[0-9T:Z-]+"\}$'
	[ "${#lines[@]}" -eq 2 ]
	run cx email suppressions list --tenant acme --json
	assert_output --partial '"address":"jane.doe@example.com"'
	[ "${#lines[@]}" -eq 1 ]
	run audit_rows email_suppression_added
	assert_line --index 0 "{\"actor\":\"$ME\",\"subject\":\"jane.doe@example.com\",\"detail\":{\"scope\":\"acme\",\"reason\":\"asked by phone\"}}"
	run cx metrics
	assert_line 'cx_email_suppressions_total{scope="acme",source="operator"} 1'
	assert_line 'cx_email_suppressions_total{scope="*default",source="operator"} 1'
	run --separate-stderr cx email suppressions remove jane.doe@example.com --tenant acme
	assert_success
	[[ $stderr == *'j***@example.com no longer suppressed for acme'* ]]
	run cx email suppressions list --tenant acme --json
	assert_output ""
	run audit_rows email_suppression_removed
	assert_output "{\"actor\":\"$ME\",\"subject\":\"jane.doe@example.com\",\"detail\":{\"scope\":\"acme\"}}"
}

@test "adding an address twice changes nothing the second time; removing one not there is exit 1" {
	as_owner
	cx email suppressions add jane@example.com --tenant acme --reason first 2> /dev/null
	run --separate-stderr cx email suppressions add JANE@example.com --tenant acme --reason second
	assert_success
	[[ $stderr == *'was already suppressed for acme'* ]]
	run cx email suppressions list --json
	assert_output --partial '"reason":"first"'
	[ "$(audit_rows email_suppression_added | wc -l)" -eq 1 ]
	run --separate-stderr cx email suppressions remove jane@example.com --tenant beta
	assert_failure 1
	[[ $stderr == *'j***@example.com is not suppressed for beta; nothing changed'* ]]
	[ "$(audit_rows email_suppression_removed | wc -l)" -eq 0 ]
}

@test "a member may not add or remove a suppression: 77, audited, nothing changed" {
	as_owner
	cx email suppressions add jane@example.com --tenant acme --reason first 2> /dev/null
	cx-approve operators add alice --role owner 2> /dev/null
	cx-approve operators add "$ME" --role member 2> /dev/null
	run --separate-stderr cx email suppressions add bob@example.com --tenant acme --reason x
	assert_failure 77
	[[ $stderr == *"$ME may not change the suppression list"* ]]
	run --separate-stderr cx email suppressions remove jane@example.com --tenant acme
	assert_failure 77
	run audit_rows email_suppression_denied
	assert_line --index 0 "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"what\":\"change the suppression list\",\"needed\":\"admin\",\"role\":\"member\"}}"
	[ "${#lines[@]}" -eq 2 ]
	run cx email suppressions list --json
	assert_output --partial '"address":"jane@example.com"'
	[ "${#lines[@]}" -eq 1 ]
}

@test "a user who is not an operator may not add a suppression" {
	run --separate-stderr cx email suppressions add jane@example.com --tenant acme --reason x
	assert_failure 77
	run cx email suppressions list --json
	assert_output ""
}

@test "a bad address, tenant, or a missing --tenant or --reason is a usage error and changes nothing" {
	as_owner
	run --separate-stderr cx email suppressions add 'jane at example.com' --tenant acme --reason x
	assert_failure 64
	[[ $stderr == *"'jane at example.com' is not an e-mail address"* ]]
	run --separate-stderr cx email suppressions add jane@example.com --tenant 'a b' --reason x
	assert_failure 64
	run --separate-stderr cx email suppressions add jane@example.com --reason x
	assert_failure 64
	[[ $stderr == *'add needs --tenant T and --reason R'* ]]
	run --separate-stderr cx email suppressions add jane@example.com --tenant acme --reason ''
	assert_failure 64
	run --separate-stderr cx email suppressions remove jane@example.com
	assert_failure 64
	run --separate-stderr cx email suppressions purge
	assert_failure 64
	run cx email suppressions list --json
	assert_output ""
	[ "$(audit_rows email_suppression_added | wc -l)" -eq 0 ]
}

@test "suppressions list for people has a header and one line per address" {
	as_owner
	CX_NOW=1796558400 cx email suppressions add jane@example.com --tenant acme \
		--reason "asked by phone" 2> /dev/null
	run cx email suppressions list --table
	assert_line --index 0 --regexp '^SCOPE +ADDRESS +SINCE +SOURCE +REASON$'
	assert_line --index 1 --regexp "^acme +jane@example.com +2026-12-06T12:00:00Z +$ME +asked by phone$"
	[ "${#lines[@]}" -eq 2 ]
}

# --- check-domain -----------------------------------------------------------

@test "check-domain: a domain with SES's SPF, DMARC reject and its three DKIM CNAMEs is ok (exit 0)" {
	start_dns
	CX_DKIM_SELECTORS=tok1,tok2,tok3 run --separate-stderr cx email check-domain good.test --json
	assert_success
	assert_output - <<-'EOF'
	{"record":"spf","name":"good.test","status":"ok","detail":"v=spf1 include:amazonses.com -all"}
	{"record":"dmarc","name":"_dmarc.good.test","status":"ok","detail":"v=DMARC1; p=reject; rua=mailto:dmarc@good.test"}
	{"record":"dkim","name":"tok1._domainkey.good.test","status":"ok","detail":"CNAME to tok1.dkim.amazonses.com"}
	{"record":"dkim","name":"tok2._domainkey.good.test","status":"ok","detail":"CNAME to tok2.dkim.amazonses.com"}
	{"record":"dkim","name":"tok3._domainkey.good.test","status":"ok","detail":"CNAME to tok3.dkim.amazonses.com"}
	EOF
}

@test "check-domain: SES without CX_DKIM_SELECTORS cannot tell DKIM (exit 1)" {
	start_dns
	run --separate-stderr cx email check-domain good.test --provider ses --json
	assert_failure 1
	assert_line --index 2 '{"record":"dkim","name":"_domainkey.good.test","status":"missing","detail":"no selector to look up: name the DKIM selectors (SES: the three Easy DKIM tokens) in CX_DKIM_SELECTORS"}'
	[[ $stderr == *'good.test is not ready to send through ses'* ]]
}

@test "check-domain: SendGrid's s1 as a CNAME and s2 as a TXT key are ok, for people too" {
	start_dns
	run --separate-stderr cx email check-domain SG.test. --provider sendgrid --table
	assert_success
	assert_output - <<-'EOF'
	RECORD NAME                                     STATUS   DETAIL
	spf    sg.test                                  ok       v=spf1 include:_spf.mx.example include:sendgrid.net ~all
	dmarc  _dmarc.sg.test                           ok       v=DMARC1; p=quarantine
	dkim   s1._domainkey.sg.test                    ok       CNAME to s1.domainkey.u1.wl.sendgrid.net
	dkim   s2._domainkey.sg.test                    ok       TXT record with a public key (40 characters)
	EOF
}

@test "check-domain: DMARC p=none is weak (exit 1)" {
	start_dns
	run --separate-stderr cx email check-domain weak.test --provider sendgrid --json
	assert_failure 1
	assert_line --index 1 '{"record":"dmarc","name":"_dmarc.weak.test","status":"weak","detail":"p=none: receivers only report, they neither quarantine nor reject: v=DMARC1; p=none"}'
	[ "$(jq -r .status <<< "$output" | paste -sd ' ')" = "ok weak ok ok" ]
}

@test "check-domain: SPF without the provider's include is weak, and a missing DKIM selector is missing (exit 1)" {
	start_dns
	run --separate-stderr cx email check-domain noinc.test --provider sendgrid --json
	assert_failure 1
	assert_output - <<-'EOF'
	{"record":"spf","name":"noinc.test","status":"weak","detail":"no include:sendgrid.net: v=spf1 include:_spf.mx.example -all"}
	{"record":"dmarc","name":"_dmarc.noinc.test","status":"ok","detail":"v=DMARC1; p=reject"}
	{"record":"dkim","name":"s1._domainkey.noinc.test","status":"ok","detail":"TXT record with a public key (40 characters)"}
	{"record":"dkim","name":"s2._domainkey.noinc.test","status":"missing","detail":"no CNAME or TXT record"}
	EOF
}

@test "check-domain: a domain without records has every line missing (exit 1)" {
	start_dns
	run --separate-stderr cx email check-domain nothing.test --provider smtp --json
	assert_failure 1
	assert_output - <<-'EOF'
	{"record":"spf","name":"nothing.test","status":"missing","detail":"no TXT record starting v=spf1"}
	{"record":"dmarc","name":"_dmarc.nothing.test","status":"missing","detail":"no TXT record starting v=DMARC1"}
	{"record":"dkim","name":"default._domainkey.nothing.test","status":"missing","detail":"no CNAME or TXT record"}
	EOF
}

@test "check-domain: Mailgun needs one of its selectors; +all is weak" {
	start_dns
	run --separate-stderr cx email check-domain mg.test --provider mailgun --json
	assert_failure 1
	assert_output - <<-'EOF'
	{"record":"spf","name":"mg.test","status":"weak","detail":"ends with +all: mail from any server passes: v=spf1 include:mailgun.org +all"}
	{"record":"dmarc","name":"_dmarc.mg.test","status":"ok","detail":"v=DMARC1; p=reject"}
	{"record":"dkim","name":"k1._domainkey.mg.test","status":"ok","detail":"TXT record with a public key (40 characters)"}
	EOF
}

@test "check-domain: two SPF records, a DKIM CNAME outside the provider and a revoked key are weak" {
	start_dns
	run --separate-stderr cx email check-domain dup.test --provider sendgrid --json
	assert_failure 1
	assert_output - <<-'EOF'
	{"record":"spf","name":"dup.test","status":"weak","detail":"more than one record: receivers apply none of them"}
	{"record":"dmarc","name":"_dmarc.dup.test","status":"missing","detail":"no TXT record starting v=DMARC1"}
	{"record":"dkim","name":"s1._domainkey.dup.test","status":"weak","detail":"CNAME to s1.keys.elsewhere.test, outside sendgrid.net"}
	{"record":"dkim","name":"s2._domainkey.dup.test","status":"weak","detail":"the key is revoked (empty p=)"}
	EOF
}

@test "check-domain: the provider follows the tenant's plan, the tenant's selectors win, and cx tenants show tells the last check" {
	start_dns
	as_owner
	cx tenants set acme --email-plan premium --email-from news@sg.test 2> /dev/null
	cx tenants set shop --email-from hello@good.test 2> /dev/null
	run --separate-stderr cx email check-domain sg.test --tenant acme --json
	assert_success
	assert_line --index 3 --partial '"name":"s2._domainkey.sg.test","status":"ok"'
	run --separate-stderr cx tenants show acme --json
	assert_output --partial '"email_domain_check":{"domain":"sg.test","ok":true,"checked_at":"'
	run --separate-stderr cx tenants show acme --table
	assert_line --index 2 --regexp '^  domain sg\.test checked [0-9T:-]+Z: ok$'
	CX_DKIM_SELECTORS=nope CX_DKIM_SELECTORS_SHOP=tok1,tok2,tok3 CX_NOW=1796558400 \
		run --separate-stderr cx email check-domain good.test --tenant shop --json
	assert_success
	CX_NOW=1796558400 run --separate-stderr cx email check-domain good.test --tenant shop --json
	assert_failure 1
	run cx tenants show shop --json
	assert_output --partial '"email_domain_check":{"domain":"good.test","ok":false,"checked_at":"2026-12-06T12:00:00Z"}'
	run audit_rows email_domain_checked
	assert_line --index 0 "{\"actor\":\"$ME\",\"subject\":\"sg.test\",\"detail\":{\"provider\":\"sendgrid\",\"ok\":true}}"
	assert_line --index 2 "{\"actor\":\"$ME\",\"subject\":\"good.test\",\"detail\":{\"provider\":\"ses\",\"ok\":false}}"
	run cx metrics
	assert_line 'cx_email_domain_checks_total{provider="sendgrid",result="ok"} 1'
	assert_line 'cx_email_domain_checks_total{provider="ses",result="ok"} 1'
	assert_line 'cx_email_domain_checks_total{provider="ses",result="failed"} 1'
}

@test "check-domain: DNS that fails is exit 69 and nothing is recorded" {
	start_dns
	run --separate-stderr cx email check-domain elsewhere.example --provider sendgrid
	assert_failure 69
	[[ $stderr == *'DNS query TXT elsewhere.example through '"$CX_DNS_SERVER"' failed'* ]]
	assert_output ""
	run audit_rows email_domain_checked
	assert_output ""
}

@test "check-domain: a bad domain, provider, tenant, DNS server or selector list is refused" {
	run --separate-stderr cx email check-domain 'bad_domain.test'
	assert_failure 64
	[[ $stderr == *"'bad_domain.test' is not a domain name"* ]]
	run --separate-stderr cx email check-domain good.test --provider postmark
	assert_failure 64
	[[ $stderr == *"'postmark' is not an e-mail provider (ses, sendgrid, mailgun or smtp)"* ]]
	run --separate-stderr cx email check-domain good.test --tenant 'a b'
	assert_failure 64
	run --separate-stderr cx email check-domain
	assert_failure 64
	CX_DNS_SERVER=localhost run --separate-stderr cx email check-domain good.test
	assert_failure 78
	[[ $stderr == *'CX_DNS_SERVER is IPv4:PORT'* ]]
	CX_DNS_SERVER=127.0.0.1:1 CX_DKIM_SELECTORS='s1,bad/selector' \
		run --separate-stderr cx email check-domain good.test
	assert_failure 78
	[[ $stderr == *'CX_DKIM_SELECTORS is a comma list'* ]]
	run audit_rows email_domain_checked
	assert_output ""
}
