/*
    Web shells: server-side scripts that give an attacker remote code or
    command execution through HTTP request parameters.
*/

rule Webshell_PHP_Eval_Base64 : webshell php
{
    meta:
        description = "PHP web shell: eval/assert of base64-decoded (optionally inflated) data taken from request parameters"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        mitre_attack = "T1505.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // eval(base64_decode(  eval(gzinflate(base64_decode(  assert(str_rot13(base64_decode(
        $decode_exec = /\b(eval|assert)\s{0,8}\(\s{0,8}@?((gzinflate|gzuncompress|gzdecode|str_rot13|strrev)\s{0,8}\(\s{0,8})?base64_decode\s{0,8}\(/ nocase ascii
        $input1 = "$_POST" ascii
        $input2 = "$_GET" ascii
        $input3 = "$_REQUEST" ascii
        $input4 = "$_COOKIE" ascii
        $input5 = "$_SERVER['HTTP_" ascii
        $input6 = "$_SERVER[\"HTTP_" ascii
        $input7 = "php://input" ascii

    condition:
        $decode_exec and any of ($input*)
}

rule Webshell_China_Chopper : webshell php asp aspx
{
    meta:
        description = "China Chopper style one-line web shell (PHP/ASP/ASPX): eval of a raw request parameter"
        severity = "high"
        reference = "https://www.mandiant.com/resources/blog/breaking-down-the-china-chopper-web-shell-part-i"
        mitre_attack = "T1505.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // <?php @eval($_POST['pass']);?>
        $php = /\beval\s{0,8}\(\s{0,8}\$_(POST|GET|REQUEST|COOKIE)\s{0,8}\[/ nocase ascii
        // <%eval request("pass")%>  <%execute request("pass")%>
        $asp = /<%\s{0,8}(eval|execute(global)?)\s{0,8}\(?\s{0,8}request\s{0,8}(\.(form|querystring|item))?\s{0,8}\(/ nocase ascii
        // <%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>
        $aspx = /\beval\s{0,8}\(\s{0,8}Request(\.Item|\.Form|\.QueryString)?\s{0,8}\[[^\]\r\n]{1,64}\]\s{0,8},\s{0,8}["']unsafe["']/ nocase ascii

    condition:
        any of them
}

rule Webshell_PHP_Cmd_Exec_Request : webshell php
{
    meta:
        description = "PHP web shell: OS command execution function called directly on a request parameter"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        mitre_attack = "T1505.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        // system($_GET['cmd'])  shell_exec($_REQUEST["c"])  passthru(  popen(  proc_open(
        $exec_input = /\b(system|shell_exec|passthru|exec|popen|proc_open|pcntl_exec)\s{0,8}\(\s{0,8}(base64_decode\s{0,8}\(\s{0,8}|stripslashes\s{0,8}\(\s{0,8}|urldecode\s{0,8}\(\s{0,8})?\$_(GET|POST|REQUEST|COOKIE)\s{0,8}\[/ nocase ascii
        // echo `$_GET['cmd']`;
        $backtick = /`\s{0,8}\$_(GET|POST|REQUEST|COOKIE)\s{0,8}\[[^\]\r\n]{1,64}\]\s{0,8}`/ ascii

    condition:
        any of them
}

rule Webshell_ASP_Cmd_Exec_Request : webshell asp aspx
{
    meta:
        description = "ASP/ASPX web shell: runs cmd.exe through WScript.Shell or Process.Start with a request parameter"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        mitre_attack = "T1505.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $wshell = "WScript.Shell" nocase ascii
        $wsexec = /\.(exec|run)\s{0,8}\(\s{0,8}["']?\s{0,8}cmd(\.exe)?["']?\s{0,8}(\/c|&)/ nocase ascii
        $pstart1 = "ProcessStartInfo" ascii
        $pstart2 = "Process.Start" ascii
        $cmd = "cmd.exe" nocase ascii
        $req = /\bRequest(\.Form|\.QueryString|\.Item|\.Params)?\s{0,8}[\(\[]\s{0,8}["']/ nocase ascii

    condition:
        filesize < 1MB and $req and
        (($wshell and $wsexec) or (any of ($pstart*) and $cmd))
}

rule Webshell_JSP_Cmd_Exec_Request : webshell jsp
{
    meta:
        description = "JSP web shell: Runtime.exec or ProcessBuilder fed from request.getParameter"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        mitre_attack = "T1505.003"
        author = "cybertriage project"
        date = "2025-11-25"

    strings:
        $runtime = /Runtime\.getRuntime\(\)\.exec\s{0,8}\(\s{0,8}(new\s+String\s{0,4}\[\]\s{0,4}\{[^}\r\n]{0,80})?request\.getParameter\s{0,8}\(/ ascii
        $pb = /new\s+ProcessBuilder\s{0,8}\([^;\r\n]{0,120}request\.getParameter\s{0,8}\(/ ascii

    condition:
        any of them
}
