"""Reference data of the demo mall (``mall.demo``): a realistic city, its budget units,
supplier name parts across Chinese cities, poverty-alleviation counties, and the product
catalogue (real brands, model series and specifications per 品目).

Plain Python data only: no database access, no randomness.
"""
