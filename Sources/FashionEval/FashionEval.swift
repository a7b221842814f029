// FashionEval
