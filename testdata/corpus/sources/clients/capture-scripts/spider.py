import os, scrapy
H, P = os.environ["HTTPS"], os.environ["HTTP"]
class S(scrapy.Spider):
    name = "capture"
    start_urls = [H + "/", H + "/products?page=2", P + "/"]
    def parse(self, response):
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, self.parse)
        yield scrapy.Request(H + "/api/items", headers={"Accept": "application/json"}, callback=self.noop, dont_filter=True)
        yield scrapy.http.JsonRequest(H + "/api/events", data={"event": "view"}, callback=self.noop, dont_filter=True)
    def noop(self, response):
        pass
