/* Fixtures for tests/unit/test_yara.c: which literals are caseless. */

rule ward_test_case
{
    meta:
        id = "yara-case-401"
    strings:
        $exact = "Exact"
        $loose = "Loose" nocase
        $dup1 = "twice"
        $dup2 = "twice" nocase
        $wide = "Wide" wide nocase
    condition:
        any of them
}
