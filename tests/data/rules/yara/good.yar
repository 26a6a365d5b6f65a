/* Fixtures for tests/unit/test_yara.c: one rule per condition form.
   rule not_a_rule { condition: true }  -- inside a comment, must be ignored */

rule ward_test_any : auth ssh
{
    meta:
        id = "yara-any-001"
        title = "SSH brute force tool"
        level = "high"
        note = "rule fake_in_string { condition: true }"
    strings:
        $a = "hydra"
        $b = "Medusa" nocase
    condition:
        any of them
}

rule ward_test_all : web
{
    meta:
        id = "yara-all-002"
    strings:
        $x1 = "union"
        $x2 = "select"
    condition:
        all of them
}

rule ward_test_not
{
    meta:
        id = "yara-not-003"
        level = "low"
    strings:
        $a = "safe"
    condition:
        not $a
}

rule ward_test_true
{
    meta:
        id = "yara-true-004"
        level = "informational"
    condition:
        true
}

rule ward_test_mixed
{
    meta:
        id = "yara-mixed-005"
    strings:
        $a = "alpha"
        $b = "beta"
        $c = "gamma"
    condition:
        ($a and $b) or $c
}

rule ward_test_set
{
    meta:
        id = "yara-set-006"
    strings:
        $s1 = "one1"
        $s2 = "two2"
    condition:
        any of ($s*) // a set
}

rule ward_test_count
{
    meta:
        id = "yara-count-007"
    strings:
        $a = "abc"
    condition:
        #a > 2
}

rule ward_test_hex
{
    meta:
        id = "yara-hex-008"
    strings:
        $h = { 41 42 43 44 }
    condition:
        $h
}

rule ward_test_wide
{
    meta:
        id = "yara-wide-009"
    strings:
        $w = "wide" wide
        $v = "both" ascii wide
    condition:
        $w or $v
}

rule ward_test_xor
{
    meta:
        id = "yara-xor-010"
    strings:
        $x = "xorme" xor
    condition:
        $x
}

rule ward_test_n_of
{
    meta:
        id = "yara-nof-011"
    strings:
        $a = "first"
        $b = "second"
        $c = "third"
    condition:
        2 of them
}

rule ward_test_filesize
{
    meta:
        id = "yara-size-012"
    condition:
        filesize < 10
}

private rule ward_test_helper
{
    strings:
        $p = "private-marker"
    condition:
        $p
}

rule ward_test_uses_helper
{
    meta:
        id = "yara-helper-013"
    strings:
        $q = "quux"
    condition:
        ward_test_helper and $q
}

rule ward_test_all_set
{
    meta:
        id = "yara-allset-014"
    strings:
        $k1 = "kk"
        $k2 = "kilo"
    condition:
        all of ($k1, $k2)
}

rule ward_test_regex
{
    meta:
        id = "yara-re-015"
    strings:
        $r = /ab+c/
        $s = "/* not a comment */"
    condition:
        $r or $s
}

rule ward_test_at
{
    meta:
        id = "yara-at-016"
    strings:
        $a = "start"
    condition:
        $a at 0
}
