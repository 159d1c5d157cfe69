from mall.api import api_blueprint

blp = api_blueprint("orders", __name__, description="Orders, checkout and budget lines")
