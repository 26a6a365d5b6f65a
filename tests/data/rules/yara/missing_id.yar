rule ward_test_no_id
{
    meta:
        title = "No id here"
    condition:
        true
}

rule ward_test_bad_level
{
    meta:
        id = "yara-badlevel-301"
        level = "urgent"
    condition:
        true
}

rule ward_test_fine
{
    meta:
        id = "yara-fine-302"
    condition:
        false
}
