"""The world of the generated shop: domains, product types and the shopping intentions behind them.

Domains are the 18 product domains of the COSMO paper's Table 3. Intentions are planted: each
one (with its coarse parent, e.g. camping -> winter camping) drives searches and purchases of
its product types, so later stages have a ground truth to recover. Brands are invented.
"""

from __future__ import annotations

from dataclasses import dataclass

# domain -> product type -> attribute words used in titles and specific queries
DOMAINS: dict[str, dict[str, tuple[str, ...]]] = {
    "Clothing, Shoes & Jewelry": {
        "winter jacket": ("insulated", "waterproof", "hooded", "down"),
        "hiking boots": ("waterproof", "leather", "mid-cut", "lightweight"),
        "running shoes": ("cushioned", "trail", "breathable", "wide"),
        "thermal gloves": ("touchscreen", "fleece-lined", "windproof", "wool"),
        "swimsuit": ("one-piece", "high-waisted", "quick-dry", "floral"),
        "yoga pants": ("high-waisted", "seamless", "pocket", "flared"),
        "dress shirt": ("slim-fit", "wrinkle-free", "cotton", "oxford"),
        "maternity dress": ("stretchy", "floral", "maxi", "nursing"),
    },
    "Electronics": {
        "bluetooth speaker": ("waterproof", "portable", "bass-boost", "mini"),
        "noise cancelling headphones": ("over-ear", "wireless", "foldable", "hybrid"),
        "action camera": ("4k", "waterproof", "stabilized", "wide-angle"),
        "portable power bank": ("20000mah", "solar", "fast-charging", "slim"),
        "webcam": ("1080p", "autofocus", "wide-angle", "privacy-cover"),
        "baby monitor": ("video", "night-vision", "two-way-audio", "wifi"),
    },
    "Home & Kitchen": {
        "cast iron skillet": ("pre-seasoned", "12-inch", "deep", "enameled"),
        "coffee maker": ("programmable", "single-serve", "12-cup", "thermal"),
        "bath towel set": ("cotton", "quick-dry", "oversized", "turkish"),
        "string lights": ("solar", "warm-white", "waterproof", "fairy"),
        "air fryer": ("digital", "5-quart", "dual-basket", "compact"),
        "throw blanket": ("fleece", "knitted", "sherpa", "weighted"),
        "insulated water bottle": ("stainless", "32oz", "leakproof", "straw-lid"),
    },
    "Sports & Outdoors": {
        "tent": ("4-person", "waterproof", "instant", "backpacking"),
        "sleeping bag": ("zero-degree", "mummy", "lightweight", "double"),
        "camping stove": ("propane", "portable", "two-burner", "ultralight"),
        "yoga mat": ("non-slip", "extra-thick", "eco-friendly", "travel"),
        "dumbbell set": ("adjustable", "neoprene", "hex", "20lb"),
        "trekking poles": ("collapsible", "carbon", "cork-grip", "anti-shock"),
        "snorkel set": ("dry-top", "anti-fog", "full-face", "kids"),
        "fishing rod": ("telescopic", "spinning", "carbon", "travel"),
    },
    "Toys & Games": {
        "building blocks": ("classic", "creative", "1000-piece", "magnetic"),
        "board game": ("strategy", "family", "cooperative", "party"),
        "plush toy": ("teddy", "unicorn", "giant", "soft"),
        "puzzle": ("1000-piece", "landscape", "wooden", "kids"),
        "pool float": ("inflatable", "flamingo", "lounger", "giant"),
        "party favors": ("assorted", "birthday", "glow", "bulk"),
    },
    "Beauty & Personal Care": {
        "sunscreen": ("spf50", "mineral", "water-resistant", "sport"),
        "lip balm": ("spf", "tinted", "moisturizing", "organic"),
        "hair dryer": ("ionic", "travel", "diffuser", "lightweight"),
        "makeup brush set": ("vegan", "professional", "travel", "16-piece"),
        "face moisturizer": ("hydrating", "oil-free", "spf30", "night"),
        "nail polish": ("gel", "quick-dry", "glitter", "pastel"),
    },
    "Health & Household": {
        "first aid kit": ("compact", "outdoor", "waterproof", "250-piece"),
        "insect repellent": ("deet-free", "long-lasting", "spray", "natural"),
        "hand warmers": ("disposable", "rechargeable", "long-lasting", "toe"),
        "vitamin supplement": ("prenatal", "multivitamin", "gummy", "vegan"),
        "protein powder": ("whey", "chocolate", "plant-based", "unflavored"),
        "pregnancy pillow": ("u-shaped", "full-body", "wedge", "cooling"),
    },
    "Automotive": {
        "car phone mount": ("magnetic", "dashboard", "vent", "wireless-charging"),
        "roof cargo box": ("waterproof", "rooftop", "soft-shell", "16-cubic-feet"),
        "car seat cover": ("waterproof", "leather", "pet", "universal"),
        "jump starter": ("portable", "lithium", "2000a", "compact"),
        "windshield snow cover": ("magnetic", "frost-guard", "oversized", "thick"),
    },
    "Pet Supplies": {
        "dog leash": ("retractable", "reflective", "hands-free", "rope"),
        "dog life jacket": ("reflective", "ripstop", "adjustable", "small"),
        "cat litter box": ("covered", "self-cleaning", "jumbo", "corner"),
        "dog bed": ("orthopedic", "calming", "washable", "waterproof"),
        "pet travel carrier": ("airline-approved", "soft-sided", "expandable", "backpack"),
    },
    "Office Products": {
        "ergonomic office chair": ("mesh", "lumbar-support", "high-back", "adjustable"),
        "standing desk": ("electric", "height-adjustable", "l-shaped", "compact"),
        "notebook": ("dotted", "hardcover", "spiral", "a5"),
        "desk organizer": ("bamboo", "mesh", "rotating", "drawer"),
        "label maker": ("bluetooth", "portable", "handheld", "thermal"),
    },
    "Tools & Home Improvement": {
        "cordless drill": ("20v", "brushless", "compact", "hammer"),
        "led work light": ("rechargeable", "magnetic", "folding", "1000-lumen"),
        "smart thermostat": ("wifi", "programmable", "learning", "voice-control"),
        "paint roller kit": ("9-inch", "extension-pole", "microfiber", "10-piece"),
        "tool box": ("rolling", "metal", "portable", "stackable"),
    },
    "Baby Products": {
        "stroller": ("lightweight", "jogging", "travel-system", "compact"),
        "baby carrier": ("ergonomic", "wrap", "hip-seat", "breathable"),
        "crib mattress": ("organic", "dual-sided", "breathable", "firm"),
        "diaper bag": ("backpack", "waterproof", "changing-pad", "large"),
        "baby bottle set": ("anti-colic", "glass", "slow-flow", "newborn"),
        "swaddle blanket": ("muslin", "cotton", "zip-up", "organic"),
    },
    "Grocery & Gourmet Food": {
        "trail mix": ("nut", "dark-chocolate", "high-protein", "snack-pack"),
        "ground coffee": ("dark-roast", "organic", "decaf", "medium-roast"),
        "energy bars": ("protein", "gluten-free", "vegan", "variety-pack"),
        "birthday candles": ("number", "sparkler", "metallic", "rainbow"),
        "herbal tea": ("chamomile", "peppermint", "caffeine-free", "sampler"),
    },
    "Patio, Lawn & Garden": {
        "bbq grill": ("charcoal", "propane", "portable", "kettle"),
        "garden hose": ("expandable", "50ft", "kink-free", "heavy-duty"),
        "raised garden bed": ("galvanized", "cedar", "elevated", "modular"),
        "patio umbrella": ("9ft", "tilting", "solar-led", "cantilever"),
        "hammock": ("portable", "double", "parachute-nylon", "with-stand"),
        "vegetable seeds": ("heirloom", "organic", "non-gmo", "variety"),
    },
    "Arts, Crafts & Sewing": {
        "acrylic paint set": ("24-color", "non-toxic", "metallic", "artist-grade"),
        "sketchbook": ("spiral", "mixed-media", "hardbound", "a4"),
        "yarn": ("chunky", "cotton", "merino", "variegated"),
        "sewing machine": ("computerized", "portable", "heavy-duty", "beginner"),
        "gift wrap": ("kraft", "holiday", "reversible", "birthday"),
    },
    "Musical Instruments": {
        "acoustic guitar": ("beginner", "full-size", "cutaway", "travel"),
        "digital piano": ("88-key", "weighted", "portable", "beginner"),
        "ukulele": ("soprano", "concert", "mahogany", "beginner"),
        "guitar strings": ("light-gauge", "phosphor-bronze", "coated", "nylon"),
        "music stand": ("folding", "sheet", "adjustable", "portable"),
    },
    "Industrial & Scientific": {
        "nitrile gloves": ("disposable", "powder-free", "100-count", "black"),
        "digital thermometer": ("infrared", "probe", "instant-read", "waterproof"),
        "safety glasses": ("anti-fog", "clear", "wraparound", "tinted"),
        "lab coat": ("cotton", "unisex", "long", "white"),
        "microscope": ("compound", "kids", "digital", "1000x"),
    },
    "Cell Phones & Accessories": {
        "waterproof phone pouch": ("universal", "floating", "lanyard", "touch-sensitive"),
        "phone case": ("rugged", "clear", "wallet", "slim"),
        "screen protector": ("tempered-glass", "privacy", "anti-glare", "2-pack"),
        "phone tripod": ("selfie-stick", "bluetooth-remote", "flexible", "extendable"),
        "wireless charger": ("fast-charging", "3-in-1", "stand", "magnetic"),
    },
}

# Product types bought alongside almost anything: the random co-buys the sampler must drop.
IMPULSE_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aa batteries": ("Electronics", ("alkaline", "rechargeable", "24-pack", "long-lasting")),
    "gift card": ("Office Products", ("birthday", "thank-you", "holiday", "digital")),
    "usb charging cable": ("Cell Phones & Accessories", ("braided", "6ft", "usb-c", "3-pack")),
}


@dataclass(frozen=True)
class Intention:
    """A planted shopping intention: why people search for and buy these product types."""

    name: str
    parent: str
    relation: str
    product_types: tuple[str, ...]
    queries: tuple[str, ...]  # broad queries that state the intention, not a product


INTENTIONS: tuple[Intention, ...] = (
    Intention("winter camping", "camping", "USED_FOR_EVE",
              ("tent", "sleeping bag", "camping stove", "thermal gloves", "hand warmers", "winter jacket"),
              ("winter camping", "camping gear", "cold weather camping")),
    Intention("family camping", "camping", "USED_FOR_EVE",
              ("tent", "camping stove", "string lights", "hammock", "first aid kit", "insect repellent"),
              ("camping", "family camping essentials", "campsite")),
    Intention("backpacking", "hiking", "USED_FOR_EVE",
              ("hiking boots", "trekking poles", "trail mix", "insulated water bottle", "first aid kit",
               "portable power bank"),
              ("backpacking", "hiking gear", "trail hiking")),
    Intention("beach vacation", "travel", "USED_FOR_EVE",
              ("swimsuit", "sunscreen", "snorkel set", "waterproof phone pouch", "pool float",
               "bluetooth speaker"),
              ("beach", "beach vacation", "beach trip essentials")),
    Intention("road trip", "travel", "USED_FOR_EVE",
              ("car phone mount", "roof cargo box", "portable power bank", "trail mix", "jump starter",
               "pet travel carrier"),
              ("road trip", "road trip essentials", "car travel")),
    Intention("home gym", "fitness", "USED_FOR_FUNC",
              ("dumbbell set", "yoga mat", "protein powder", "insulated water bottle", "running shoes"),
              ("home gym", "workout at home", "fitness")),
    Intention("yoga practice", "fitness", "USED_FOR_FUNC",
              ("yoga mat", "yoga pants", "insulated water bottle", "herbal tea"),
              ("yoga", "yoga for beginners")),
    Intention("marathon training", "fitness", "USED_FOR_EVE",
              ("running shoes", "energy bars", "insulated water bottle", "sunscreen", "lip balm"),
              ("marathon", "running gear", "long distance running")),
    Intention("new baby", "parenting", "USED_FOR_AUD",
              ("stroller", "baby carrier", "crib mattress", "diaper bag", "baby bottle set",
               "swaddle blanket", "baby monitor"),
              ("newborn essentials", "baby registry", "new baby")),
    Intention("pregnancy", "parenting", "USED_FOR_AUD",
              ("maternity dress", "pregnancy pillow", "vitamin supplement", "face moisturizer"),
              ("pregnancy", "expecting mom", "maternity")),
    Intention("kids birthday party", "celebration", "USED_FOR_EVE",
              ("party favors", "birthday candles", "gift wrap", "building blocks", "plush toy",
               "string lights"),
              ("birthday party", "kids party", "party supplies")),
    Intention("holiday gifting", "celebration", "USED_FOR_EVE",
              ("gift wrap", "board game", "puzzle", "throw blanket", "bluetooth speaker", "ukulele"),
              ("christmas gifts", "holiday gifts", "gift ideas")),
    Intention("game night", "entertainment", "USED_FOR_EVE",
              ("board game", "puzzle", "trail mix", "string lights"),
              ("game night", "family games")),
    Intention("backyard barbecue", "outdoor living", "USED_FOR_EVE",
              ("bbq grill", "patio umbrella", "string lights", "bluetooth speaker", "insect repellent"),
              ("bbq", "backyard party", "grilling")),
    Intention("vegetable gardening", "gardening", "USED_FOR_FUNC",
              ("raised garden bed", "garden hose", "vegetable seeds", "nitrile gloves", "sunscreen"),
              ("gardening", "grow vegetables", "garden supplies")),
    Intention("working from home", "home office", "USED_FOR_FUNC",
              ("ergonomic office chair", "standing desk", "webcam", "noise cancelling headphones",
               "desk organizer", "coffee maker", "ground coffee"),
              ("home office", "work from home setup", "remote work")),
    Intention("back to school", "education", "USED_FOR_EVE",
              ("notebook", "desk organizer", "label maker", "insulated water bottle", "phone case"),
              ("back to school", "school supplies", "college essentials")),
    Intention("learning guitar", "music", "USED_FOR_FUNC",
              ("acoustic guitar", "guitar strings", "music stand", "ukulele"),
              ("learn guitar", "beginner instruments", "music lessons")),
    Intention("learning piano", "music", "USED_FOR_FUNC",
              ("digital piano", "music stand", "notebook"),
              ("learn piano", "piano for beginners")),
    Intention("painting hobby", "crafts", "USED_FOR_FUNC",
              ("acrylic paint set", "sketchbook", "makeup brush set", "desk organizer"),
              ("painting supplies", "art supplies", "painting for beginners")),
    Intention("knitting hobby", "crafts", "USED_FOR_FUNC",
              ("yarn", "sewing machine", "throw blanket", "herbal tea"),
              ("knitting", "crafting", "sewing projects")),
    Intention("winter driving", "driving", "USED_FOR_EVE",
              ("windshield snow cover", "jump starter", "hand warmers", "thermal gloves", "led work light"),
              ("winter car essentials", "snow driving", "winter car kit")),
    Intention("dog adventures", "pet care", "USED_FOR_AUD",
              ("dog leash", "dog life jacket", "car seat cover", "insulated water bottle", "dog bed"),
              ("dog hiking gear", "traveling with dog", "dog essentials")),
    Intention("new cat", "pet care", "USED_FOR_AUD",
              ("cat litter box", "pet travel carrier", "plush toy"),
              ("new cat", "kitten supplies")),
    Intention("home renovation", "home improvement", "USED_FOR_FUNC",
              ("cordless drill", "paint roller kit", "tool box", "led work light", "safety glasses",
               "nitrile gloves"),
              ("home renovation", "diy projects", "remodeling tools")),
    Intention("smart home", "home improvement", "USED_FOR_FUNC",
              ("smart thermostat", "string lights", "wireless charger", "baby monitor"),
              ("smart home", "home automation")),
    Intention("cozy night in", "relaxation", "USED_FOR_EVE",
              ("throw blanket", "herbal tea", "puzzle", "coffee maker", "ground coffee"),
              ("cozy night", "relaxing at home", "self care")),
    Intention("self care", "relaxation", "USED_FOR_FUNC",
              ("face moisturizer", "lip balm", "nail polish", "bath towel set", "hair dryer"),
              ("self care gifts", "pampering", "spa day")),
    Intention("home cooking", "cooking", "USED_FOR_FUNC",
              ("cast iron skillet", "air fryer", "digital thermometer", "coffee maker"),
              ("cooking", "kitchen essentials", "home chef")),
    Intention("fishing trip", "outdoor recreation", "USED_FOR_EVE",
              ("fishing rod", "sunscreen", "insect repellent", "hammock", "trail mix"),
              ("fishing", "fishing gear", "fishing trip")),
    Intention("content creation", "hobbies", "USED_FOR_FUNC",
              ("action camera", "phone tripod", "webcam", "portable power bank", "led work light"),
              ("vlogging", "content creator setup", "youtube gear")),
    Intention("science class", "education", "USED_FOR_FUNC",
              ("microscope", "lab coat", "safety glasses", "notebook"),
              ("science kit", "chemistry class", "stem learning")),
    Intention("business travel", "travel", "USED_FOR_EVE",
              ("noise cancelling headphones", "portable power bank", "dress shirt", "wireless charger",
               "screen protector"),
              ("business trip", "travel essentials", "work travel")),
    Intention("pool day", "outdoor recreation", "USED_FOR_EVE",
              ("pool float", "swimsuit", "sunscreen", "waterproof phone pouch", "bath towel set"),
              ("pool party", "pool day", "summer fun")),
)


def product_type_domains() -> dict[str, str]:
    """product type -> domain, impulse types included."""
    mapping = {ptype: domain for domain, types in DOMAINS.items() for ptype in types}
    mapping.update({ptype: domain for ptype, (domain, _) in IMPULSE_TYPES.items()})
    return mapping


def product_type_attributes() -> dict[str, tuple[str, ...]]:
    mapping = {ptype: attrs for types in DOMAINS.values() for ptype, attrs in types.items()}
    mapping.update({ptype: attrs for ptype, (_, attrs) in IMPULSE_TYPES.items()})
    return mapping
