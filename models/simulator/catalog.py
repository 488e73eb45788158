"""Synthetic product catalog of the shopper simulator.

A fixed taxonomy (department > category > type, with variants such as scent or
diet line and pack sizes) is expanded into items: every type gets its
private-label value line ("Everyday") in every variant and size, then branded
items up to its share of the requested catalog size. Item popularity is Zipf
over a random ranking of the items, scaled by how common the type is, so a few
staples dominate and the sensitive products are rare, as in real baskets.

*Signal groups* name the sets of items that planted life events and
confounders buy from (``"lotion_unscented_large"``, ``"diapers"``, ...). They
are rules over type, variant, size and brand tier; they live in the simulator
only and are never written to the catalog file (a real catalog has no such
labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from basketguard.engine.errors import ConfigError

# department | category | type | popularity | price | unit | variants | sizes (label:price factor)
# popularity: relative share of base lines of the type; unit "kg" is sold by weight.
_TAXONOMY = """
Produce | Fruit | Bananas | 6 | 0.9 | kg | - | -
Produce | Fruit | Apples | 4 | 2.2 | kg | Gala,Braeburn,Granny Smith | -
Produce | Fruit | Berries | 3 | 2.5 | each | Strawberries,Blueberries,Raspberries | 150g:1,400g:2.2
Produce | Fruit | Citrus | 2.5 | 2.0 | kg | Oranges,Lemons,Easy Peelers | -
Produce | Fruit | Grapes | 2 | 2.4 | each | Red,Green | 500g:1
Produce | Vegetables | Potatoes | 4 | 1.4 | kg | White,Sweet,Baby | -
Produce | Vegetables | Tomatoes | 4 | 1.6 | each | Vine,Cherry,Plum | 250g:1,500g:1.8
Produce | Vegetables | Salad Leaves | 3 | 1.3 | each | Mixed,Spinach,Rocket | 100g:1,200g:1.7
Produce | Vegetables | Onions | 3 | 1.0 | kg | Brown,Red,Spring | -
Produce | Vegetables | Carrots | 3 | 0.8 | kg | - | -
Produce | Vegetables | Peppers | 2.5 | 1.8 | each | Mixed,Red,Green | 3pk:1
Produce | Vegetables | Broccoli | 2 | 0.9 | each | - | -
Produce | Herbs | Fresh Herbs | 1 | 0.9 | each | Basil,Coriander,Parsley,Mint | -
Dairy & Eggs | Milk | Milk | 8 | 1.1 | each | Whole,Semi-Skimmed,Skimmed,Lactose-Free | 1L:1,2L:1.7
Dairy & Eggs | Milk | Plant Milk | 1.5 | 1.8 | each | Oat,Soya,Almond | 1L:1
Dairy & Eggs | Cheese | Cheddar | 3 | 3.0 | each | Mild,Mature,Kosher | 200g:1,400g:1.8
Dairy & Eggs | Cheese | Soft Cheese | 1.5 | 2.2 | each | Brie,Cream Cheese,Mozzarella | 150g:1
Dairy & Eggs | Yogurt | Yogurt | 4 | 1.5 | each | Plain,Strawberry,Greek,Sugar Free | 4pk:1,500g:1.3
Dairy & Eggs | Butter & Spreads | Butter | 3 | 2.1 | each | Salted,Unsalted,Spreadable | 250g:1
Dairy & Eggs | Eggs | Eggs | 4 | 2.0 | each | Free Range,Organic | 6pk:1,12pk:1.8
Dairy & Eggs | Cream | Cream | 1.5 | 1.2 | each | Single,Double,Sour | 300ml:1
Bakery | Bread | Sliced Bread | 6 | 1.2 | each | White,Wholemeal,Seeded,Kosher | 400g:1,800g:1.5
Bakery | Bread | Rolls & Buns | 3 | 1.4 | each | White,Brioche,Bagels | 6pk:1
Bakery | Cakes | Cakes | 1.5 | 2.8 | each | Chocolate,Lemon,Victoria Sponge | -
Bakery | Pastries | Pastries | 2 | 1.9 | each | Croissants,Pain au Chocolat,Danish | 4pk:1
Meat & Fish | Poultry | Chicken | 5 | 4.5 | each | Breast,Thighs,Whole,Halal,Kosher | 500g:1,1kg:1.8
Meat & Fish | Beef & Lamb | Beef | 3 | 5.5 | each | Mince,Steak,Roasting Joint,Halal,Kosher | 500g:1
Meat & Fish | Beef & Lamb | Lamb | 1.5 | 6.5 | each | Chops,Leg,Halal | 500g:1
Meat & Fish | Pork | Pork Chops | 1.5 | 4.0 | each | - | 500g:1
Meat & Fish | Pork | Bacon | 3 | 2.8 | each | Smoked,Unsmoked | 300g:1
Meat & Fish | Pork | Pork Sausages | 3 | 2.5 | each | Classic,Cumberland | 6pk:1
Meat & Fish | Pork | Ham | 2.5 | 2.3 | each | Honey Roast,Smoked | 120g:1
Meat & Fish | Fish | Salmon | 2 | 5.0 | each | Fillets,Smoked | 240g:1
Meat & Fish | Fish | White Fish | 1.5 | 4.2 | each | Cod,Haddock | 300g:1
Meat & Fish | Shellfish | Prawns | 1.2 | 4.5 | each | Cooked,Raw | 200g:1
Meat & Fish | Shellfish | Mussels | 0.5 | 4.0 | each | - | 1kg:1
Pantry | Pasta & Rice | Pasta | 4 | 1.1 | each | Spaghetti,Penne,Fusilli,Wholewheat | 500g:1,1kg:1.8
Pantry | Pasta & Rice | Rice | 3 | 1.8 | each | Basmati,Long Grain,Brown | 1kg:1
Pantry | Tins & Jars | Canned Tomatoes | 3 | 0.7 | each | Chopped,Plum | 400g:1,4pk:3.5
Pantry | Tins & Jars | Baked Beans | 3 | 0.8 | each | Regular,Reduced Sugar | 400g:1,4pk:3.5
Pantry | Tins & Jars | Soup | 2 | 1.2 | each | Tomato,Vegetable,Chicken | 400g:1
Pantry | Tins & Jars | Jam | 1.2 | 1.9 | each | Strawberry,Raspberry,Sugar Free | 340g:1
Pantry | Tins & Jars | Peanut Butter | 1.2 | 2.3 | each | Smooth,Crunchy | 340g:1
Pantry | Breakfast | Cereal | 4 | 2.6 | each | Cornflakes,Granola,Muesli,Sugar Free | 500g:1,750g:1.4
Pantry | Baking | Flour | 1 | 1.1 | each | Plain,Self-Raising | 1.5kg:1
Pantry | Baking | Sugar | 1.2 | 1.0 | each | Granulated,Caster,Brown | 1kg:1
Pantry | Baking | Sweeteners | 0.6 | 2.4 | each | Tablets,Granulated | 100g:1
Pantry | Cooking | Cooking Oil | 1.5 | 2.2 | each | Sunflower,Olive,Vegetable | 1L:1
Pantry | Cooking | Sauces | 3 | 1.6 | each | Pasta Sauce,Curry Sauce,Ketchup,Mayonnaise | -
Pantry | Cooking | Spices | 1.2 | 1.3 | each | Cumin,Paprika,Black Pepper,Mixed Herbs | -
Pantry | World Foods | Kosher Foods | 0.4 | 2.6 | each | Matzo,Gefilte Fish,Kosher Soup | -
Pantry | World Foods | Halal Foods | 0.5 | 2.8 | each | Halal Stock,Halal Ready Meal,Halal Sausages | -
Snacks & Confectionery | Chocolate | Chocolate | 4 | 1.5 | each | Milk,Dark,Sugar Free | 100g:1,200g:1.8
Snacks & Confectionery | Sweets | Sweets | 2.5 | 1.2 | each | Gummies,Mints,Sugar Free | 150g:1
Snacks & Confectionery | Crisps | Crisps | 4 | 1.3 | each | Salted,Cheese & Onion,Salt & Vinegar | 6pk:1,150g:0.9
Snacks & Confectionery | Biscuits | Biscuits | 3 | 1.2 | each | Digestive,Chocolate Chip,Sugar Free | 300g:1
Snacks & Confectionery | Nuts | Nuts | 1.2 | 2.5 | each | Salted Peanuts,Cashews,Mixed | 200g:1
Drinks | Soft Drinks | Cola | 4 | 1.6 | each | Regular,Diet,Zero Sugar | 1.5L:1,6x330ml:2.3
Drinks | Soft Drinks | Lemonade | 1.5 | 1.2 | each | Regular,Diet | 2L:1
Drinks | Juice | Juice | 3 | 1.9 | each | Orange,Apple,No Added Sugar | 1L:1
Drinks | Water | Water | 3 | 0.6 | each | Still,Sparkling | 1.5L:1,6pk:3
Drinks | Hot Drinks | Coffee | 3 | 3.8 | each | Instant,Ground,Pods | 200g:1
Drinks | Hot Drinks | Tea | 2.5 | 2.5 | each | Black,Green,Herbal | 80pk:1
Beer, Wine & Spirits | Beer & Cider | Beer | 3 | 1.8 | each | Lager,Ale,Stout | 500ml:1,4pk:3.2,12pk:8
Beer, Wine & Spirits | Beer & Cider | Cider | 1.2 | 1.9 | each | Apple,Pear | 500ml:1,4pk:3.2
Beer, Wine & Spirits | Wine | Red Wine | 2 | 7.0 | each | Merlot,Shiraz,Rioja,Kosher | 75cl:1
Beer, Wine & Spirits | Wine | White Wine | 2 | 7.0 | each | Sauvignon Blanc,Pinot Grigio,Chardonnay | 75cl:1
Beer, Wine & Spirits | Wine | Sparkling Wine | 0.8 | 9.0 | each | Prosecco,Cava | 75cl:1
Beer, Wine & Spirits | Spirits | Whisky | 0.6 | 18.0 | each | Blended,Single Malt | 70cl:1
Beer, Wine & Spirits | Spirits | Vodka | 0.6 | 14.0 | each | - | 70cl:1,35cl:0.55
Beer, Wine & Spirits | Spirits | Gin | 0.6 | 17.0 | each | London Dry,Pink | 70cl:1
Beer, Wine & Spirits | Spirits | Rum | 0.4 | 16.0 | each | White,Spiced | 70cl:1
Frozen | Frozen | Ice Cream | 2 | 3.0 | each | Vanilla,Chocolate,Sugar Free | 1L:1
Frozen | Frozen | Frozen Pizza | 2 | 3.2 | each | Margherita,Pepperoni | -
Frozen | Frozen | Frozen Vegetables | 2 | 1.4 | each | Peas,Sweetcorn,Mixed | 1kg:1
Frozen | Frozen | Ready Meals | 2.5 | 3.5 | each | Lasagne,Curry,Cottage Pie | 400g:1
Health & Beauty | Vitamins & Supplements | Multivitamins | 0.8 | 5.0 | each | Adult,50+ | 30pk:1,90pk:2.4
Health & Beauty | Vitamins & Supplements | Prenatal Vitamins | 0.12 | 7.5 | each | Prenatal,Pregnancy Plus | 30pk:1,90pk:2.4
Health & Beauty | Vitamins & Supplements | Calcium | 0.2 | 4.5 | each | Calcium,Calcium + Vitamin D | 60pk:1
Health & Beauty | Vitamins & Supplements | Magnesium | 0.15 | 5.0 | each | Magnesium,Magnesium Citrate | 60pk:1
Health & Beauty | Vitamins & Supplements | Zinc | 0.12 | 4.0 | each | Zinc,Zinc + Vitamin C | 60pk:1
Health & Beauty | Vitamins & Supplements | Vitamin D | 0.4 | 3.5 | each | - | 90pk:1
Health & Beauty | Vitamins & Supplements | Fish Oil | 0.3 | 6.0 | each | Omega-3 | 60pk:1
Health & Beauty | Medicines | Pain Relief | 1.2 | 2.0 | each | Paracetamol,Ibuprofen | 16pk:1,32pk:1.7
Health & Beauty | Medicines | Cold & Flu | 0.8 | 3.5 | each | Capsules,Hot Drink | -
Health & Beauty | Medicines | Digestive Health | 0.5 | 3.0 | each | Antacid,Rehydration | -
Health & Beauty | Medicines | First Aid | 0.5 | 2.5 | each | Plasters,Antiseptic Cream | -
Health & Beauty | Diabetes Care | Glucose Meters | 0.03 | 19.0 | each | Starter Kit | -
Health & Beauty | Diabetes Care | Test Strips | 0.06 | 14.0 | each | - | 50pk:1,100pk:1.8
Health & Beauty | Diabetes Care | Lancets | 0.04 | 5.0 | each | - | 100pk:1
Health & Beauty | Stop Smoking | Nicotine Patches | 0.06 | 16.0 | each | 7mg,14mg,21mg | 7pk:1
Health & Beauty | Stop Smoking | Nicotine Gum | 0.06 | 11.0 | each | 2mg,4mg | 105pk:1
Health & Beauty | Stop Smoking | Nicotine Lozenges | 0.04 | 10.0 | each | 2mg,4mg | 72pk:1
Health & Beauty | Skin Care | Body Lotion | 1.0 | 3.5 | each | Unscented,Cocoa Butter,Lavender,Aloe | 250ml:1,500ml:1.7,1L:2.9
Health & Beauty | Skin Care | Hand Cream | 0.5 | 2.8 | each | Unscented,Rose | 75ml:1
Health & Beauty | Skin Care | Face Cream | 0.5 | 6.0 | each | Day,Night | 50ml:1
Health & Beauty | Bath & Soap | Bar Soap | 1.0 | 1.2 | each | Scent-Free,Lavender,Citrus | 1pk:1,4pk:3.2
Health & Beauty | Bath & Soap | Body Wash | 1.5 | 2.4 | each | Scent-Free,Fresh,Coconut | 250ml:1,500ml:1.7
Health & Beauty | Bath & Soap | Hand Sanitizer | 0.4 | 2.0 | each | - | 50ml:1,500ml:3.5
Health & Beauty | Bath & Soap | Washcloths | 0.25 | 3.5 | each | Cotton | 6pk:1,12pk:1.8
Health & Beauty | Bath & Soap | Cotton Balls | 0.4 | 1.2 | each | - | 100ct:1,200ct:1.7,400ct:3
Health & Beauty | Hair Care | Shampoo | 2 | 3.0 | each | Everyday,Anti-Dandruff,Colour | 400ml:1
Health & Beauty | Hair Care | Conditioner | 1.2 | 3.0 | each | Everyday,Repair | 400ml:1
Health & Beauty | Oral Care | Toothpaste | 2 | 2.0 | each | Whitening,Sensitive | 75ml:1
Health & Beauty | Oral Care | Toothbrush | 0.8 | 2.5 | each | Manual,Electric Heads | -
Health & Beauty | Personal Care | Deodorant | 1.5 | 2.5 | each | Men,Women,Unscented | 150ml:1
Health & Beauty | Personal Care | Razors | 0.7 | 6.0 | each | Men,Women | 4pk:1
Health & Beauty | Feminine Care | Tampons | 0.8 | 3.0 | each | Regular,Super | 20pk:1
Health & Beauty | Feminine Care | Sanitary Pads | 0.8 | 2.5 | each | Day,Night | 14pk:1
Health & Beauty | Feminine Care | Pregnancy Tests | 0.05 | 9.0 | each | Digital,Early Result | 1pk:1,2pk:1.6
Health & Beauty | Sexual Health | Condoms | 0.25 | 8.0 | each | Regular,Thin,Large | 12pk:1
Health & Beauty | Sexual Health | Contraceptives | 0.06 | 13.0 | each | Emergency Pill,Spermicide Gel | -
Health & Beauty | Incontinence | Incontinence Pads | 0.12 | 6.0 | each | Light,Moderate,Heavy | 16pk:1,32pk:1.8
Health & Beauty | Incontinence | Adult Briefs | 0.06 | 11.0 | each | Medium,Large | 10pk:1
Health & Beauty | Incontinence | Bed Protectors | 0.03 | 7.0 | each | - | 10pk:1
Baby | Nappies | Diapers | 0.5 | 9.0 | each | Newborn,Size 1-2,Size 3-4,Size 5 | 40pk:1,80pk:1.8
Baby | Nappies | Baby Wipes | 0.6 | 2.2 | each | Sensitive,Fragrance Free | 1pk:1,4pk:3.4
Baby | Nappies | Nappy Sacks | 0.1 | 1.5 | each | Fragranced,Unscented | 200pk:1
Baby | Feeding | Infant Formula | 0.25 | 11.0 | each | First Infant,Follow-On,Hungry Baby | 800g:1
Baby | Feeding | Baby Food | 0.3 | 0.9 | each | Fruit Puree,Vegetable Puree,Porridge | 120g:1,4pk:3.6
Baby | Feeding | Baby Bottles | 0.05 | 8.0 | each | Anti-Colic | 2pk:1
Baby | Bath | Baby Bath | 0.1 | 3.5 | each | Bubble Bath,Shampoo | 500ml:1
Household | Cleaning | Surface Cleaner | 1.2 | 1.8 | each | Lemon,Antibacterial | 750ml:1
Household | Cleaning | Dish Soap | 1.5 | 1.4 | each | Original,Lemon,Sensitive | 450ml:1
Household | Cleaning | Laundry Detergent | 1.5 | 6.0 | each | Bio,Non-Bio,Fragrance Free | 1L:1,2L:1.8
Household | Cleaning | Bleach | 0.8 | 1.1 | each | Thick,Spray | 750ml:1
Household | Paper | Toilet Paper | 3 | 4.0 | each | Soft,Quilted | 9pk:1,18pk:1.8
Household | Paper | Kitchen Towel | 1.5 | 2.2 | each | - | 2pk:1,4pk:1.8
Household | Paper | Tissues | 1.2 | 1.5 | each | Regular,Balsam | 1pk:1,3pk:2.5
Household | Bags & Wraps | Bin Bags | 1.0 | 2.5 | each | Kitchen,Refuse | 20pk:1
Household | Bags & Wraps | Food Bags | 0.6 | 1.6 | each | Small,Large | 50pk:1
Household | Bags & Wraps | Foil & Cling Film | 0.7 | 1.8 | each | Foil,Cling Film | -
Household | Pet | Dog Food | 1.2 | 5.0 | each | Dry,Wet | 2kg:1,12pk:1.2
Household | Pet | Cat Food | 1.5 | 4.0 | each | Dry,Wet | 1kg:1,12pk:1.1
Household | Pet | Cat Litter | 0.5 | 4.5 | each | Clumping,Wood | 10L:1
Tobacco | Tobacco | Cigarettes | 0.6 | 13.0 | each | Regular,Menthol | 20pk:1
Tobacco | Tobacco | Rolling Tobacco | 0.3 | 15.0 | each | - | 30g:1
Home & Leisure | Crafts | Craft Supplies | 0.3 | 3.0 | each | Glue,Paper,Yarn,Paint | -
Home & Leisure | Garden | Garden | 0.3 | 6.0 | each | Compost,Seeds,Plant Food | -
Home & Leisure | Garden | Lawn Mowers | 0.01 | 120.0 | each | Electric,Petrol | -
Home & Leisure | Stationery | Stationery | 0.5 | 2.0 | each | Pens,Notebooks,Envelopes | -
Home & Leisure | Cards & Gifts | Greeting Cards | 0.6 | 2.5 | each | Birthday,New Baby,Sympathy | -
Home & Leisure | Electrical | Batteries | 0.6 | 4.0 | each | AA,AAA | 4pk:1,12pk:2.5
Home & Leisure | Electrical | Light Bulbs | 0.3 | 3.5 | each | LED | 1pk:1,3pk:2.5
"""

#: Name of the private-label value brand.
PRIVATE_LABEL = "Everyday"

_SUGAR_FREE = {"Sugar Free", "Diet", "Zero Sugar", "No Added Sugar", "Reduced Sugar"}
_SUGARY_TYPES = {"Chocolate", "Sweets", "Biscuits", "Cola", "Lemonade", "Cakes", "Ice Cream"}
_ALCOHOL = {"Beer", "Cider", "Red Wine", "White Wine", "Sparkling Wine", "Whisky", "Vodka",
            "Gin", "Rum"}
_SPIRITS = {"Whisky", "Vodka", "Gin", "Rum"}
_BABY = {"Diapers", "Baby Wipes", "Baby Food"}


def _group_rules() -> dict[str, object]:
    """Signal groups as predicates over (type, variant, size, private_label, premium)."""

    def t(*types):
        return lambda ty, va, si, pl, pr: ty in types

    def tv(types, variants):
        return lambda ty, va, si, pl, pr: ty in types and va in variants

    return {
        "pregnancy_test": t("Pregnancy Tests"),
        "prenatal_vitamins": t("Prenatal Vitamins"),
        "calcium": t("Calcium"),
        "magnesium": t("Magnesium"),
        "zinc": t("Zinc"),
        "minerals": t("Calcium", "Magnesium", "Zinc"),
        "lotion_unscented": lambda ty, va, si, pl, pr: (
            (ty == "Body Lotion" or ty == "Hand Cream") and va == "Unscented"),
        "lotion_unscented_large": lambda ty, va, si, pl, pr: (
            ty == "Body Lotion" and va == "Unscented" and si in ("500ml", "1L")),
        "lotion_cocoa_butter": tv({"Body Lotion"}, {"Cocoa Butter"}),
        "soap_scent_free": tv({"Bar Soap", "Body Wash"}, {"Scent-Free"}),
        "cotton_balls_large": lambda ty, va, si, pl, pr: (
            ty == "Cotton Balls" and si in ("200ct", "400ct")),
        "hand_sanitizer": t("Hand Sanitizer"),
        "washcloths": t("Washcloths"),
        "nappy_sacks": t("Nappy Sacks"),
        "diapers": t("Diapers"),
        "baby_wipes": t("Baby Wipes"),
        "infant_formula": t("Infant Formula"),
        "baby_food": t("Baby Food"),
        "baby_consumables": lambda ty, va, si, pl, pr: ty in _BABY,
        "glucose_meter": t("Glucose Meters"),
        "test_strips": t("Test Strips", "Lancets"),
        "sugar_free": lambda ty, va, si, pl, pr: va in _SUGAR_FREE or ty == "Sweeteners",
        "sugary": lambda ty, va, si, pl, pr: ty in _SUGARY_TYPES and va not in _SUGAR_FREE,
        "nicotine_replacement": t("Nicotine Patches", "Nicotine Gum", "Nicotine Lozenges"),
        "tobacco": t("Cigarettes", "Rolling Tobacco"),
        "incontinence": t("Incontinence Pads", "Adult Briefs", "Bed Protectors"),
        "contraceptives": t("Contraceptives"),
        "condoms": t("Condoms"),
        "kosher": lambda ty, va, si, pl, pr: va == "Kosher" or ty == "Kosher Foods",
        "halal": lambda ty, va, si, pl, pr: va == "Halal" or ty == "Halal Foods",
        "pork": t("Pork Chops", "Bacon", "Pork Sausages", "Ham"),
        "shellfish": t("Prawns", "Mussels"),
        "beer": t("Beer", "Cider"),
        "wine": t("Red Wine", "White Wine", "Sparkling Wine"),
        "spirits": lambda ty, va, si, pl, pr: ty in _SPIRITS,
        "alcohol": lambda ty, va, si, pl, pr: ty in _ALCOHOL,
        "value_lines": lambda ty, va, si, pl, pr: pl,
        "premium": lambda ty, va, si, pl, pr: pr,
        # groups added later go last: a group's bit and index are part of the kernels'
        # random-number counters, so appending keeps every earlier output unchanged
        "baby_bottles": t("Baby Bottles"),
    }


#: Names of the signal groups, in bit order.
GROUPS: tuple[str, ...] = tuple(_group_rules())

_BRAND_A = ("Ash", "Bell", "Brook", "Clear", "Crest", "Dale", "Fair", "Fern", "Gold", "Green",
            "Hale", "Kin", "Lark", "Meadow", "North", "Oak", "Pure", "Red", "River", "Sun",
            "True", "Vale", "West", "Wild")
_BRAND_B = ("field", "ford", "ly", "more", "wood", "stone", "well", "ton", "way", "leaf",
            "bury", "mark")


@dataclass(frozen=True)
class _TypeSpec:
    department: str
    category: str
    type: str
    popularity: float
    price: float
    by_weight: bool
    variants: tuple[str, ...]
    sizes: tuple[tuple[str, float], ...]


def _parse_taxonomy() -> list[_TypeSpec]:
    specs = []
    for line in _TAXONOMY.strip().splitlines():
        dep, cat, ty, pop, price, unit, variants, sizes = (f.strip() for f in line.split("|"))
        var = ("",) if variants == "-" else tuple(v.strip() for v in variants.split(","))
        siz: tuple[tuple[str, float], ...] = (("", 1.0),)
        if sizes != "-":
            siz = tuple((s.split(":")[0], float(s.split(":")[1])) for s in sizes.split(","))
        specs.append(_TypeSpec(dep, cat, ty, float(pop), float(price), unit == "kg", var, siz))
    return specs


TYPES: tuple[_TypeSpec, ...] = tuple(_parse_taxonomy())

#: Smallest catalog: the private-label line of every type in every variant and size.
MIN_ITEMS = sum(len(s.variants) * len(s.sizes) for s in TYPES)
#: Largest catalog accepted.
MAX_ITEMS = 200_000


@dataclass(frozen=True)
class Catalog:
    """The generated catalog: one entry per item code ``0 .. n_items - 1``.

    Attributes
    ----------
    name, department, category, type, brand : numpy.ndarray
        object arrays of strings.
    private_label, premium, by_weight : numpy.ndarray
        bool arrays.
    price : numpy.ndarray
        float64 shelf price.
    popularity : numpy.ndarray
        float64 base-process weights (Zipf over a random ranking times type share).
    twin : numpy.ndarray
        int32 private-label item of the same type, variant and size (-1 for
        private-label items themselves).
    group_items : dict[str, numpy.ndarray]
        int32 item codes of each signal group (see :data:`GROUPS`).
    """

    name: np.ndarray
    department: np.ndarray
    category: np.ndarray
    type: np.ndarray
    brand: np.ndarray
    private_label: np.ndarray
    premium: np.ndarray
    by_weight: np.ndarray
    price: np.ndarray
    popularity: np.ndarray
    twin: np.ndarray
    group_items: dict[str, np.ndarray]

    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.name.shape[0])

    def item_mask(self) -> np.ndarray:
        """uint64 bit set per item: bit ``k`` set when the item is in ``GROUPS[k]``."""
        mask = np.zeros(self.n_items, dtype=np.uint64)
        for bit, group in enumerate(GROUPS):
            mask[self.group_items[group]] |= np.uint64(1) << np.uint64(bit)
        return mask

    def group_tables(self, weights: dict[str, np.ndarray] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR form of the groups: offsets, item codes, cumulative popularity per group.

        ``weights`` maps a group to per-item weights (indexed by item code) used
        instead of the popularity when a stage picks from that group (a group
        whose weights are all zero keeps the popularity).
        """
        off = [0]
        items = []
        cums = []
        for group in GROUPS:
            codes = self.group_items[group]
            w = self.popularity[codes]
            if weights is not None and group in weights and weights[group][codes].sum() > 0:
                w = weights[group][codes]
            cum = np.cumsum(w) / w.sum() if len(codes) else np.zeros(0)
            if len(codes):
                cum[-1] = 1.0
            items.append(codes)
            cums.append(cum)
            off.append(off[-1] + len(codes))
        return (np.asarray(off, np.int32), np.concatenate(items).astype(np.int32),
                np.concatenate(cums))

    def to_arrow(self) -> pa.Table:
        """The catalog as written to ``catalog.parquet``."""
        return pa.table({
            "item_id": pa.array(np.arange(self.n_items, dtype=np.int32)),
            "name": pa.array(self.name.tolist(), pa.string()),
            "department": pa.array(self.department.tolist(), pa.string()),
            "category": pa.array(self.category.tolist(), pa.string()),
            "type": pa.array(self.type.tolist(), pa.string()),
            "brand": pa.array(self.brand.tolist(), pa.string()),
            "private_label": pa.array(self.private_label),
            "price": pa.array(self.price.astype(np.float32)),
        })


def build_catalog(n_items: int, seed: int, zipf_exponent: float = 1.0) -> Catalog:
    """Expand the taxonomy into ``n_items`` items.

    Parameters
    ----------
    n_items : int
        Catalog size, ``MIN_ITEMS <= n_items <= MAX_ITEMS``.
    seed : int
        Seed of the brand names, prices and popularity ranking.
    zipf_exponent : float
        Exponent ``s`` of the popularity ``rank ** -s`` (0 gives uniform ranks).

    Returns
    -------
    Catalog
    """
    if not MIN_ITEMS <= n_items <= MAX_ITEMS:
        raise ConfigError(
            f"items: {n_items} is out of range; the catalog needs between {MIN_ITEMS} "
            f"(one private-label item per type, variant and size) and {MAX_ITEMS} items")
    rng = np.random.default_rng([int(seed), 0xCA7])
    base = np.array([len(s.variants) * len(s.sizes) for s in TYPES])
    # branded items on top of the private-label lines, shared by type popularity
    share = np.array([s.popularity for s in TYPES]) ** 0.5
    extra = np.floor((n_items - base.sum()) * share / share.sum()).astype(np.int64)
    short = n_items - base.sum() - extra.sum()
    extra[np.argsort(-share, kind="stable")[:short]] += 1
    rules = _group_rules()

    cols: dict[str, list] = {k: [] for k in ("name", "department", "category", "type", "brand",
                                             "pl", "premium", "by_weight", "price", "typepop",
                                             "variant", "size")}
    twin: list[int] = []
    for ti, spec in enumerate(TYPES):
        n_brands = 1 + int(np.ceil(extra[ti] / base[ti])) if extra[ti] else 1
        pool = rng.permutation(len(_BRAND_A) * len(_BRAND_B))
        brands = [PRIVATE_LABEL]
        for j in range(n_brands - 1):
            a, b = divmod(int(pool[j % len(pool)]), len(_BRAND_B))
            suffix = "" if j < len(pool) else f" {j // len(pool) + 1}"
            brands.append(_BRAND_A[a] + _BRAND_B[b] + suffix)
        pl_code: dict[tuple[str, str], int] = {}
        count = 0
        for bi, brand in enumerate(brands):
            tier = 0.65 if bi == 0 else (1.45 if bi == 1 and n_brands >= 3 else 1.0)
            for variant in spec.variants:
                for size, size_factor in spec.sizes:
                    if count == base[ti] + extra[ti]:
                        break
                    count += 1
                    code = len(cols["name"])
                    if bi == 0:
                        pl_code[(variant, size)] = code
                    twin.append(-1 if bi == 0 else pl_code[(variant, size)])
                    name = " ".join(p for p in (brand, variant, spec.type, size) if p)
                    price = spec.price * size_factor * tier * float(np.exp(rng.normal(0, 0.15)))
                    cols["name"].append(name)
                    cols["department"].append(spec.department)
                    cols["category"].append(spec.category)
                    cols["type"].append(spec.type)
                    cols["brand"].append(brand)
                    cols["pl"].append(bi == 0)
                    cols["premium"].append(tier > 1.0)
                    cols["by_weight"].append(spec.by_weight)
                    cols["price"].append(max(0.1, np.floor(price * 10) / 10 + 0.09))
                    cols["typepop"].append(spec.popularity / (base[ti] + extra[ti]))
                    cols["variant"].append(variant)
                    cols["size"].append(size)
    n = len(cols["name"])
    ranks = rng.permutation(n) + 1.0
    popularity = np.asarray(cols["typepop"]) * n * ranks ** (-float(zipf_exponent))
    popularity /= popularity.sum()
    pl = np.asarray(cols["pl"])
    premium = np.asarray(cols["premium"])
    groups = {}
    for g, rule in rules.items():
        codes = [i for i in range(n) if rule(cols["type"][i], cols["variant"][i],
                                             cols["size"][i], pl[i], premium[i])]
        groups[g] = np.asarray(codes, dtype=np.int32)
    return Catalog(
        name=np.asarray(cols["name"], dtype=object),
        department=np.asarray(cols["department"], dtype=object),
        category=np.asarray(cols["category"], dtype=object),
        type=np.asarray(cols["type"], dtype=object),
        brand=np.asarray(cols["brand"], dtype=object),
        private_label=pl,
        premium=premium,
        by_weight=np.asarray(cols["by_weight"]),
        price=np.asarray(cols["price"], dtype=np.float64),
        popularity=popularity,
        twin=np.asarray(twin, dtype=np.int32),
        group_items=groups,
    )
