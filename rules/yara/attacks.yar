/* Attack strings that show up in any log message: requests in access logs, commands
 * in audit and shell logs, application and error logs. Each rule's meta gives ward its
 * id, title and level; every condition needs at least one text string, so the literal
 * prefilter picks the rule only on lines that hold one.
 *
 * ward takes only id, title and level from meta, and YARA tags cannot hold the dots of
 * ATT&CK tags (attack.t1059.004), so the techniques are written in meta 'attack' for
 * readers; they do not reach alerts. Samples: tests/data/yara-samples.log, checked by
 * tests/integration/rules-yara.sh. */

rule ward_reverse_shell
{
    meta:
        id = "ward-yara-reverse-shell"
        title = "Reverse shell one-liner"
        level = "critical"
        description = "bash /dev/tcp, nc -e, mkfifo pipes, python/perl/php/ruby socket one-liners, plain or URL-encoded"
        attack = "attack.execution attack.t1059.004 attack.command_and_control attack.t1095"
        author = "ward"
        date = "2026-12-01"
    strings:
        $bash1 = "-i >& /dev/tcp/" nocase
        $bash2 = "-i >&/dev/tcp/" nocase
        $bash3 = "-i >%26 /dev/tcp/" nocase
        $bash4 = "-i+>%26+/dev/tcp/" nocase
        $bash5 = "-i%20%3E%26%20%2Fdev%2Ftcp%2F" nocase
        $bash6 = "-i%20>%26%20/dev/tcp/" nocase
        $bash7 = "0<&196;exec 196<>/dev/tcp/" nocase
        $bash8 = "exec 5<>/dev/tcp/" nocase
        $nc1 = "nc -e /bin/" nocase
        $nc2 = "ncat -e /bin/" nocase
        $nc3 = "nc.traditional -e /bin/" nocase
        $nc4 = "nc -c /bin/" nocase
        $nc5 = "nc+-e+/bin/" nocase
        $nc6 = "nc%20-e%20%2Fbin%2F" nocase
        $nc7 = "nc%20-e%20/bin/" nocase
        $fifo1 = "mkfifo /tmp/f;" nocase
        $fifo2 = "/tmp/f;cat /tmp/f|" nocase
        $fifo3 = "mkfifo+/tmp/f" nocase
        $fifo4 = "mkfifo%20%2Ftmp%2F" nocase
        $py1 = "import socket,subprocess,os" nocase
        $py2 = "import socket,os,pty" nocase
        $py3 = "socket.socket(socket.AF_INET,socket.SOCK_STREAM)" nocase
        $py4 = "pty.spawn(\"/bin/" nocase
        $pl1 = "use Socket;$i=" nocase
        $pl2 = "perl -MIO -e" nocase
        $php1 = "$sock=fsockopen(" nocase
        $rb1 = "ruby -rsocket -e" nocase
        $socat1 = "socat exec:" nocase
        $socat2 = "exec:'bash -li'" nocase
        $socat3 = "exec:\"bash -li\"" nocase
    condition:
        any of them
}

rule ward_powershell_encoded
{
    meta:
        id = "ward-yara-powershell-encoded"
        title = "PowerShell with an encoded command"
        level = "high"
        description = "powershell or pwsh started with -EncodedCommand (or its -enc, -ec, -e abbreviations before base64 of UTF-16 text)"
        attack = "attack.execution attack.t1059.001 attack.defense_evasion attack.t1027.010"
        author = "ward"
        date = "2026-12-01"
    strings:
        $ps1 = "powershell" nocase
        $ps2 = "pwsh" nocase
        $enc1 = "-EncodedCommand " nocase
        $enc2 = " -enc " nocase
        $enc3 = " -ec " nocase
        $enc4 = " -en " nocase
        $enc5 = " -e JAB" nocase
        $enc6 = " -e SQBFAFgA" nocase
        $enc7 = " -e aQBlAHgA" nocase
        $enc8 = "%20-enc%20" nocase
        $enc9 = "+-enc+" nocase
        $enc10 = "%20-e%20JAB" nocase
        $enc11 = " /enc " nocase
    condition:
        any of ($ps*) and any of ($enc*)
}

rule ward_powershell_download_cradle
{
    meta:
        id = "ward-yara-powershell-cradle"
        title = "PowerShell download cradle"
        level = "high"
        description = "IEX (New-Object Net.WebClient).DownloadString(...) and the like: fetch a script and run it in memory"
        attack = "attack.execution attack.t1059.001 attack.command_and_control attack.t1105"
        author = "ward"
        date = "2026-12-01"
    strings:
        $d1 = "Net.WebClient).DownloadString(" nocase
        $d2 = "Net.WebClient).DownloadFile(" nocase
        $d3 = "Net.WebClient).DownloadData(" nocase
        $d4 = "IEX(New-Object " nocase
        $d5 = "IEX (New-Object " nocase
        $d6 = "Invoke-Expression(New-Object " nocase
        $d7 = "Invoke-Expression (New-Object " nocase
        $d8 = "Start-BitsTransfer -Source http" nocase
        $d9 = "iwr -useb http" nocase
        $d10 = "New-Object System.Net.Sockets.TCPClient(" nocase
    condition:
        any of them
}

rule ward_certutil_download
{
    meta:
        id = "ward-yara-certutil-download"
        title = "certutil used to download or decode a file"
        level = "high"
        description = "certutil -urlcache -split -f http://..., -verifyctl, or -decode: a Windows binary abused to fetch or unpack payloads"
        attack = "attack.command_and_control attack.t1105 attack.defense_evasion attack.t1140"
        author = "ward"
        date = "2026-12-01"
    strings:
        $c = "certutil" nocase
        $u1 = "-urlcache" nocase
        $u2 = "/urlcache" nocase
        $u3 = "-verifyctl" nocase
        $u4 = "/verifyctl" nocase
        $u5 = "-decode " nocase
        $u6 = "/decode " nocase
        $u7 = "%20-urlcache" nocase
        $u8 = "+-urlcache" nocase
    condition:
        $c and any of ($u*)
}

rule ward_lolbin_proxy_execution
{
    meta:
        id = "ward-yara-lolbin-exec"
        title = "Windows binary proxy execution of remote code"
        level = "high"
        description = "mshta with a URL or script, regsvr32 /i:http (Squiblydoo), rundll32 javascript:, bitsadmin /transfer"
        attack = "attack.defense_evasion attack.t1218.005 attack.t1218.010 attack.t1218.011 attack.t1197"
        author = "ward"
        date = "2026-12-01"
    strings:
        $m1 = "mshta http" nocase
        $m2 = "mshta.exe http" nocase
        $m3 = "mshta vbscript:" nocase
        $m4 = "mshta javascript:" nocase
        $r1 = "regsvr32 /s /n /u /i:http" nocase
        $r2 = "regsvr32.exe /s /n /u /i:http" nocase
        $r3 = "regsvr32 /u /n /s /i:http" nocase
        $r4 = "scrobj.dll" nocase
        $d1 = "rundll32.exe javascript:" nocase
        $d2 = "rundll32 javascript:" nocase
        $d3 = "mshtml,RunHTMLApplication" nocase
        $b1 = "bitsadmin /transfer" nocase
        $b2 = "bitsadmin.exe /transfer" nocase
    condition:
        any of them
}

rule ward_webshell_payload
{
    meta:
        id = "ward-yara-webshell-payload"
        title = "Web shell code in a request or log"
        level = "high"
        description = "the code of one-line web shells (PHP eval/system of $_POST/$_GET, China Chopper, JSP Runtime.exec of a parameter), plain or URL-encoded"
        attack = "attack.persistence attack.t1505.003 attack.execution attack.t1059"
        author = "ward"
        date = "2026-12-01"
    strings:
        $p1 = "eval($_POST[" nocase
        $p2 = "eval($_REQUEST[" nocase
        $p3 = "eval($_GET[" nocase
        $p4 = "assert($_POST[" nocase
        $p5 = "assert($_REQUEST[" nocase
        $p6 = "system($_GET[" nocase
        $p7 = "system($_REQUEST[" nocase
        $p8 = "passthru($_GET[" nocase
        $p9 = "passthru($_REQUEST[" nocase
        $p10 = "shell_exec($_GET[" nocase
        $p11 = "shell_exec($_REQUEST[" nocase
        $p12 = "eval($_SERVER['HTTP_" nocase
        $e1 = "eval%28%24_POST%5B" nocase
        $e2 = "eval%28%24_REQUEST%5B" nocase
        $e3 = "system%28%24_GET%5B" nocase
        $e4 = "system%28%24_REQUEST%5B" nocase
        $e5 = "passthru%28%24_GET%5B" nocase
        $e6 = "shell_exec%28%24_GET%5B" nocase
        $a1 = "eval(Request.Item[" nocase
        $a2 = "eval(Request[" nocase
        $a3 = "eval%28Request.Item%5B" nocase
        $j1 = "Runtime.getRuntime().exec(request.getParameter(" nocase
        $j2 = "Runtime.getRuntime%28%29.exec%28request.getParameter" nocase
    condition:
        any of them
}

rule ward_php_encoded_eval
{
    meta:
        id = "ward-yara-php-encoded-eval"
        title = "URL-encoded PHP eval of an encoded payload"
        level = "high"
        description = "eval( or assert( with base64_decode(, gzinflate(, str_rot13( ... URL-encoded once or twice, as injected through parameters; ward-yara-php-eval-payload sees the plain form"
        attack = "attack.execution attack.t1059 attack.defense_evasion attack.t1027"
        author = "ward"
        date = "2026-12-01"
    strings:
        $e1 = "eval%28" nocase
        $e2 = "assert%28" nocase
        $e3 = "eval%2528" nocase
        $e4 = "eval(" nocase
        $d1 = "base64_decode%28" nocase
        $d2 = "gzinflate%28" nocase
        $d3 = "str_rot13%28" nocase
        $d4 = "gzuncompress%28" nocase
        $d5 = "hex2bin%28" nocase
        $d6 = "base64_decode%2528" nocase
        $d7 = "gzinflate%2528" nocase
    condition:
        any of ($e*) and any of ($d*)
}

rule ward_log4shell_exploit_payload
{
    meta:
        id = "ward-yara-log4shell-payload"
        title = "Log4Shell exploit kit payload path"
        level = "critical"
        description = "a JNDI lookup that names a JNDIExploit/marshalsec payload path (/Basic/Command/Base64/..., /TomcatBypass/..., /Deserialization/...): the command it carries is base64 in the URL"
        attack = "attack.initial_access attack.t1190 attack.execution attack.t1059"
        author = "ward"
        date = "2026-12-01"
    strings:
        $j1 = "jndi:" nocase
        $j2 = "jndi%3a" nocase
        $k1 = "/Basic/Command/" nocase
        $k2 = "/Basic/ReverseShell/" nocase
        $k3 = "/Basic/Dnslog/" nocase
        $k4 = "/Basic/TomcatEcho" nocase
        $k5 = "/Basic/SpringEcho" nocase
        $k6 = "/Basic/WeblogicEcho" nocase
        $k7 = "/TomcatBypass/" nocase
        $k8 = "/GroovyBypass/" nocase
        $k9 = "/WebsphereBypass/" nocase
        $k10 = "/Deserialization/" nocase
        $k11 = "%2FBasic%2FCommand%2F" nocase
        $k12 = "%2FTomcatBypass%2F" nocase
    condition:
        any of ($j*) and any of ($k*)
}

rule ward_linux_dropper
{
    meta:
        id = "ward-yara-linux-dropper"
        title = "Download-and-run shell one-liner"
        level = "medium"
        description = "wget/curl/tftp fetching from a URL together with chmod +x, cd /tmp or a pipe into sh/bash: botnet droppers and post-exploitation in any log"
        attack = "attack.command_and_control attack.t1105 attack.execution attack.t1059.004"
        author = "ward"
        date = "2026-12-01"
    strings:
        $g1 = "wget http" nocase
        $g2 = "curl http" nocase
        $g3 = "wget -q" nocase
        $g4 = "curl -s" nocase
        $g5 = "curl -fsSL" nocase
        $g6 = "tftp -g" nocase
        $g7 = "busybox wget" nocase
        $g8 = "wget+http" nocase
        $g9 = "curl+http" nocase
        $g10 = "wget%20http" nocase
        $g11 = "curl%20http" nocase
        $g12 = "wget -O-" nocase
        $g13 = "wget -O /tmp/" nocase
        $x1 = "chmod +x" nocase
        $x2 = "chmod 777" nocase
        $x3 = "chmod+777" nocase
        $x4 = "chmod+%2Bx" nocase
        $x5 = "chmod%20777" nocase
        $x6 = "cd /tmp" nocase
        $x7 = "cd+/tmp" nocase
        $x8 = "cd%20%2Ftmp" nocase
        $x9 = "%7Csh" nocase
        $x10 = "%7Cbash" nocase
        $pipe = /\|\s*(ba)?sh([\s;)&|'"`]|$)/
    condition:
        any of ($g*) and (any of ($x*) or $pipe)
}

rule ward_crypto_miner
{
    meta:
        id = "ward-yara-crypto-miner"
        title = "Cryptocurrency miner"
        level = "high"
        description = "mining pool URLs (stratum+tcp://), XMRig and its options, and well-known Monero pool names in commands, cron or application logs"
        attack = "attack.impact attack.t1496"
        author = "ward"
        date = "2026-12-01"
    strings:
        $s1 = "stratum+tcp://" nocase
        $s2 = "stratum+ssl://" nocase
        $s3 = "stratum+tls://" nocase
        $s4 = "stratum2+tcp://" nocase
        $x1 = "xmrig" nocase
        $x2 = "--donate-level" nocase
        $x3 = "--cpu-max-threads-hint" nocase
        $p1 = "supportxmr.com" nocase
        $p2 = "c3pool.com" nocase
        $p3 = "moneroocean.stream" nocase
        $p4 = "nanopool.org" nocase
        $p5 = "hashvault.pro" nocase
        $p6 = "minexmr.com" nocase
        $p7 = "2miners.com" nocase
    condition:
        any of them
}

rule ward_ssh_key_injection
{
    meta:
        id = "ward-yara-ssh-key-injection"
        title = "SSH key appended to authorized_keys"
        level = "high"
        description = "a command that appends a key to an authorized_keys file (echo ssh-rsa ... >> ~/.ssh/authorized_keys), the usual persistence after a web or Redis compromise"
        attack = "attack.persistence attack.t1098.004"
        author = "ward"
        date = "2026-12-01"
    strings:
        $ak1 = ".ssh/authorized_keys" nocase
        $ak2 = ".ssh%2Fauthorized_keys" nocase
        $ak3 = ".ssh%2fauthorized_keys" nocase
        $w1 = ">>" nocase
        $w2 = "%3E%3E" nocase
        $w3 = "tee -a " nocase
        $k1 = "ssh-rsa AAAA"
        $k2 = "ssh-ed25519 AAAA"
        $k3 = "ecdsa-sha2-nistp256 AAAA"
        $k4 = "ssh-rsa+AAAA"
        $k5 = "ssh-rsa%20AAAA"
    condition:
        any of ($ak*) and any of ($w*) and any of ($k*)
}
