use LWP::UserAgent; use HTTP::Request;
my ($H, $P, $CA, $UA) = @ENV{qw(HTTPS HTTP CA UA_MODE)};
my $ua = LWP::UserAgent->new(ssl_opts => { SSL_ca_file => $CA });
$ua->agent($UA) if $UA;
my @reqs = (['GET', "$H/", undef, []], ['GET', "$H/products?page=2", undef, []],
  ['GET', "$H/api/items", undef, ['Accept' => 'application/json', 'Authorization' => 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok']],
  ['POST', "$H/api/events", '{"event":"view"}', ['Content-Type' => 'application/json']],
  ['GET', "$H/account", undef, ['Cookie' => 'session=8f14e45fceea167a']], ['HEAD', "$H/", undef, []],
  ['GET', "$P/", undef, []], ['POST', "$P/login", 'user=alice&pass=secret', ['Content-Type' => 'application/x-www-form-urlencoded']]);
for my $r (@reqs) { my $req = HTTP::Request->new($r->[0], $r->[1], $r->[3], $r->[2]); $ua->request($req); }
