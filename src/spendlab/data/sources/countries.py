"""Country names as the ad platforms' exports write them (English, German, French, Spanish,
Italian, Dutch, ...) and their ISO 3166-1 alpha-2 codes: one home for the Google Ads and
Microsoft Advertising readers and the writers."""

from __future__ import annotations

_COUNTRY_TABLE = """US United States|USA|Vereinigte Staaten|États-Unis|Estados Unidos;
GB United Kingdom|UK|Great Britain|Vereinigtes Königreich|Royaume-Uni|Reino Unido;
DE Germany|Deutschland|Allemagne|Alemania; FR France|Frankreich|Francia; ES Spain|Spanien|Espagne|
España; IT Italy|Italien|Italie|Italia; NL Netherlands|Niederlande|Pays-Bas|Países Bajos;
BE Belgium|Belgien|Belgique|Bélgica; AT Austria|Österreich|Autriche; CH Switzerland|Schweiz|Suisse|
Suiza; IE Ireland|Irland|Irlande|Irlanda; PT Portugal; SE Sweden|Schweden|Suède|Suecia;
NO Norway|Norwegen|Norvège|Noruega; DK Denmark|Dänemark|Danemark|Dinamarca; FI Finland|Finnland|
Finlande|Finlandia; PL Poland|Polen|Pologne|Polonia; CZ Czechia|Czech Republic|Tschechien;
GR Greece|Griechenland|Grèce|Grecia; HU Hungary|Ungarn; RO Romania|Rumänien|Roumanie|Rumania;
LU Luxembourg|Luxemburg; CA Canada|Kanada|Canadá; MX Mexico|Mexiko|Mexique|México; BR Brazil|
Brasilien|Brésil|Brasil; AR Argentina|Argentinien|Argentine; CL Chile|Chili; CO Colombia|
Kolumbien|Colombie; PE Peru|Pérou|Perú; AU Australia|Australien|Australie; NZ New Zealand|
Neuseeland|Nouvelle-Zélande|Nueva Zelanda; JP Japan|Japon|Japón; CN China|Chine; KR South Korea|
Korea|Südkorea|Corée du Sud|Corea del Sur; IN India|Indien|Inde; SG Singapore|Singapur|Singapour;
HK Hong Kong|Hongkong; TW Taiwan|Taïwan|Taiwán; TH Thailand|Thaïlande|Tailandia; MY Malaysia|
Malaisie|Malasia; ID Indonesia|Indonesien|Indonésie; PH Philippines|Philippinen|Filipinas;
VN Vietnam|Viêt Nam; IL Israel|Israël; TR Turkey|Türkiye|Türkei|Turquie|Turquía; AE United Arab
Emirates|UAE|Vereinigte Arabische Emirate|Émirats arabes unis|Emiratos Árabes Unidos;
SA Saudi Arabia|Saudi-Arabien|Arabie saoudite|Arabia Saudí; ZA South Africa|Südafrika|
Afrique du Sud|Sudáfrica; EG Egypt|Ägypten|Égypte|Egipto; NG Nigeria|Nigéria; KE Kenya|Kenia;
MA Morocco|Marokko|Maroc|Marruecos; UA Ukraine|Ucrania; RU Russia|Russland|Russie|Rusia"""
COUNTRIES: dict[str, str] = {}  # lower-case name -> ISO 3166-1 alpha-2
COUNTRY_NAMES: dict[str, str] = {}  # ISO code -> English name (the writer's)
for _entry in " ".join(_COUNTRY_TABLE.split("\n")).split(";"):
    _code, _names = _entry.strip().split(" ", 1)
    COUNTRY_NAMES[_code] = _names.split("|")[0].strip()
    COUNTRIES.update({n.strip().lower(): _code for n in _names.split("|")})

__all__ = ["COUNTRIES", "COUNTRY_NAMES"]
