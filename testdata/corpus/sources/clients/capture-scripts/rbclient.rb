require 'net/http'
require 'openssl'
h, p, ca, ua = ENV['HTTPS'], ENV['HTTP'], ENV['CA'], ENV['UA_MODE'].to_s
reqs = [['GET', "#{h}/", nil, {}], ['GET', "#{h}/products?page=2", nil, {}],
  ['GET', "#{h}/api/items", nil, {'Accept' => 'application/json', 'Authorization' => 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok'}],
  ['POST', "#{h}/api/events", '{"event":"view"}', {'Content-Type' => 'application/json'}],
  ['GET', "#{h}/account", nil, {'Cookie' => 'session=8f14e45fceea167a'}], ['HEAD', "#{h}/", nil, {}],
  ['GET', "#{p}/", nil, {}], ['POST', "#{p}/login", 'user=alice&pass=secret', {'Content-Type' => 'application/x-www-form-urlencoded'}]]
reqs.each do |m, u, b, hd|
  uri = URI(u)
  hd = hd.dup
  hd['User-Agent'] = ua unless ua.empty?
  Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == 'https', ca_file: ca) do |http|
    req = Net::HTTPGenericRequest.new(m, !b.nil?, m != 'HEAD', uri.request_uri, hd)
    req.body = b if b
    http.request(req)
  end
end
