from mall.api import api_blueprint

blp = api_blueprint("search", __name__, description="Full-text product search")
