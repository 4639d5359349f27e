{#-
  pseudonym(expression): HMAC-SHA256 of the text of `expression` under the platform's key,
  64 lowercase hex digits (data_platform/core/pseudonyms.py). The key's two RFC 2104 pads are
  in private.pseudonym_key, written by the platform before each dbt step; neither engine has
  an HMAC function, both have SHA-256 over bytes. Null in, null out.
-#}
{% macro pseudonym(expression) -%}
    {{ return(adapter.dispatch('pseudonym')(expression)) }}
{%- endmacro %}

{% macro duckdb__pseudonym(expression) -%}
    sha256(
        (select unhex(outer_pad) from private.pseudonym_key)
        || unhex(sha256(
            (select unhex(inner_pad) from private.pseudonym_key)
            || encode(cast({{ expression }} as varchar))
        ))
    )
{%- endmacro %}

{% macro postgres__pseudonym(expression) -%}
    encode(sha256(
        (select decode(outer_pad, 'hex') from private.pseudonym_key)
        || sha256(
            (select decode(inner_pad, 'hex') from private.pseudonym_key)
            || convert_to(cast({{ expression }} as text), 'UTF8')
        )
    ), 'hex')
{%- endmacro %}
