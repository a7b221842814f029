// GET /openapi.json: the API written out by hand. A test checks that its paths and methods are exactly the
// router's routes.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.0.3",
      "info": {"title": "FashionVL search", "version": "1.0.0",
               "description": "Text→image, image→image and image→text search over a Fashion-Gen catalog with a dual-encoder checkpoint (ITC), optional ITM re-ranking. Errors are {\"error\": {\"code\", \"message\"}}."},
      "paths": {
        "/": {"get": {"summary": "The search page (HTML, no external assets)",
                      "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        "/healthz": {"get": {"summary": "Liveness and what is served",
                             "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/metrics": {"get": {"summary": "Prometheus text: requests by route/method/status, latency histograms",
                             "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {}}}}}},
        "/search/text": {"post": {"summary": "Text → images (ITC top k; optional ITM re-rank of the top rerank_k)",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TextQuery"}}}},
          "responses": {"200": {"$ref": "#/components/responses/Results"}, "400": {"$ref": "#/components/responses/Error"},
                        "408": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
        "/search/image": {"post": {"summary": "Image → images (target=image) or image → texts (target=text, optional ITM re-rank of the top rerank_k) by ITC embeddings; body = JPEG or PNG bytes",
          "parameters": [{"$ref": "#/components/parameters/k"},
                         {"name": "target", "in": "query", "required": false, "schema": {"type": "string", "enum": ["image", "text"], "default": "image"}},
                         {"name": "rerank_k", "in": "query", "required": false, "description": "with target=text: re-rank the ITC top rerank_k by ITM", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
          "requestBody": {"required": true, "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                                                         "image/png": {"schema": {"type": "string", "format": "binary"}}}},
          "responses": {"200": {"$ref": "#/components/responses/Results"}, "400": {"$ref": "#/components/responses/Error"},
                        "408": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"},
                        "503": {"$ref": "#/components/responses/Error"}}}},
        "/items/{id}": {"get": {"summary": "A product of the catalog", "parameters": [{"$ref": "#/components/parameters/id"}],
          "responses": {"200": {"description": "the item", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/items/{id}/image": {"get": {"summary": "The product's catalog image as PNG", "parameters": [{"$ref": "#/components/parameters/id"}],
          "responses": {"200": {"description": "PNG", "content": {"image/png": {}}},
                        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/items/{id}/similar": {"get": {"summary": "More like this: nearest products by ITC image embeddings (itself excluded)",
          "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/k"}],
          "responses": {"200": {"$ref": "#/components/responses/Results"}, "400": {"$ref": "#/components/responses/Error"},
                        "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}}
      },
      "components": {
        "parameters": {
          "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 0}},
          "k": {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
        },
        "schemas": {
          "TextQuery": {"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 1000},
            "k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "rerank": {"type": "boolean", "default": false},
            "rerank_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}},
          "Hit": {"type": "object", "required": ["id", "title", "category", "image", "score", "itc_score"], "properties": {
            "id": {"type": "integer", "format": "int64"}, "title": {"type": "string"}, "category": {"type": "string"},
            "image": {"type": "string", "description": "path of the item's PNG"},
            "score": {"type": "number", "description": "rank score: itm_score when re-ranked, else itc_score"},
            "itc_score": {"type": "number"}, "itm_score": {"type": "number", "nullable": true}}},
          "Item": {"type": "object", "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
            "description": {"type": "string"}, "category": {"type": "string"}, "views": {"type": "integer"}, "image": {"type": "string"}}},
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
        },
        "responses": {
          "Results": {"description": "results, best first", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "query": {"type": "string"}, "k": {"type": "integer"}, "reranked": {"type": "boolean"}, "milliseconds": {"type": "number"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}}}}},
          "Error": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    }
    """#
}
