// FashionModels
