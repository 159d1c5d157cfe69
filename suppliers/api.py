from mall.api import api_blueprint

blp = api_blueprint("suppliers", __name__, description="Suppliers, storefronts and SME declarations")
