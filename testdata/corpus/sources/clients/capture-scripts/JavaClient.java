import java.net.*;
import java.net.http.*;
import java.security.cert.X509Certificate;
import javax.net.ssl.*;
import java.io.*;

public class JavaClient {
  public static void main(String[] a) throws Exception {
    String H = System.getenv("HTTPS"), P = System.getenv("HTTP"), UA = System.getenv().getOrDefault("UA_MODE", "");
    TrustManager[] all = { new X509TrustManager() {
      public void checkClientTrusted(X509Certificate[] c, String t) {}
      public void checkServerTrusted(X509Certificate[] c, String t) {}
      public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; } } };
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, all, null);
    String[][] reqs = {
      {"GET", H + "/", "", ""}, {"GET", H + "/products?page=2", "", ""},
      {"GET", H + "/api/items", "", "Accept:application/json|Authorization:Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok"},
      {"POST", H + "/api/events", "{\"event\":\"view\"}", "Content-Type:application/json"},
      {"GET", H + "/account", "", "Cookie:session=8f14e45fceea167a"}, {"HEAD", H + "/", "", ""},
      {"GET", P + "/", "", ""}, {"POST", P + "/login", "user=alice&pass=secret", "Content-Type:application/x-www-form-urlencoded"},
    };
    if (a[0].equals("httpclient")) {
      HttpClient c = HttpClient.newBuilder().sslContext(ctx).build();
      for (String[] r : reqs) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(r[1]));
        b.method(r[0], r[2].isEmpty() ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(r[2]));
        if (!r[3].isEmpty()) for (String kv : r[3].split("\\|")) { String[] p = kv.split(":", 2); b.header(p[0], p[1]); }
        if (!UA.isEmpty()) b.header("User-Agent", UA);
        c.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
      }
    } else {
      HttpsURLConnection.setDefaultSSLSocketFactory(ctx.getSocketFactory());
      HttpsURLConnection.setDefaultHostnameVerifier((h, s) -> true);
      for (String[] r : reqs) {
        HttpURLConnection c = (HttpURLConnection) new URL(r[1]).openConnection();
        c.setRequestMethod(r[0]);
        if (!r[3].isEmpty()) for (String kv : r[3].split("\\|")) { String[] p = kv.split(":", 2); c.setRequestProperty(p[0], p[1]); }
        if (!UA.isEmpty()) c.setRequestProperty("User-Agent", UA);
        if (!r[2].isEmpty()) { c.setDoOutput(true); try (OutputStream o = c.getOutputStream()) { o.write(r[2].getBytes()); } }
        c.getResponseCode();
        try (InputStream in = c.getInputStream()) { in.readAllBytes(); }
      }
    }
  }
}
