<?php
$H = getenv("HTTPS"); $P = getenv("HTTP"); $CA = getenv("CA"); $UA = getenv("UA_MODE");
$reqs = [["GET", "$H/", null, []], ["GET", "$H/products?page=2", null, []],
  ["GET", "$H/api/items", null, ["Accept: application/json", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok"]],
  ["POST", "$H/api/events", '{"event":"view"}', ["Content-Type: application/json"]],
  ["GET", "$H/account", null, ["Cookie: session=8f14e45fceea167a"]], ["HEAD", "$H/", null, []],
  ["GET", "$P/", null, []], ["POST", "$P/login", "user=alice&pass=secret", []]];
foreach ($reqs as [$m, $u, $b, $h]) {
  $c = curl_init($u);
  curl_setopt($c, CURLOPT_CAINFO, $CA);
  curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
  if ($m == "HEAD") curl_setopt($c, CURLOPT_NOBODY, true);
  elseif ($m != "GET") curl_setopt($c, CURLOPT_CUSTOMREQUEST, $m);
  if ($b !== null) curl_setopt($c, CURLOPT_POSTFIELDS, $b);
  if ($UA) curl_setopt($c, CURLOPT_USERAGENT, $UA);
  if ($h) curl_setopt($c, CURLOPT_HTTPHEADER, $h);
  curl_exec($c); curl_close($c);
}
