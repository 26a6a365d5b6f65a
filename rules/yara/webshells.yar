/* Strings of well-known PHP web shells and exploit payloads as they appear in
 * requests and logs. Each rule's meta gives ward its id, title and level. */

rule ward_webshell_names
{
    meta:
        id = "ward-yara-webshell-names"
        title = "Request for a well-known web shell"
        level = "high"
    strings:
        $a = "c99.php" nocase
        $b = "r57.php" nocase
        $c = "c99shell" nocase
        $d = "r57shell" nocase
        $e = "wso.php" nocase
        $f = "b374k" nocase
        $g = "/shell.php?cmd=" nocase
    condition:
        any of them
}

rule ward_php_eval_payload
{
    meta:
        id = "ward-yara-php-eval-payload"
        title = "PHP eval of encoded payload"
        level = "high"
    strings:
        $eval = "eval(" nocase
        $b64 = "base64_decode" nocase
        $gz = "gzinflate" nocase
    condition:
        $eval and ($b64 or $gz)
}
