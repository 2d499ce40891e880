<?php
// Avatar upload endpoint: the image arrives base64-encoded in a form field.
$raw = base64_decode($_POST['avatar'] ?? '', true);
if ($raw === false || strlen($raw) > 1048576) {
    http_response_code(400);
    exit;
}
$name = bin2hex(random_bytes(8)) . '.png';
file_put_contents(__DIR__ . '/avatars/' . $name, $raw);
exec('optipng -quiet ' . escapeshellarg(__DIR__ . '/avatars/' . $name));
echo json_encode(['file' => $name]);
