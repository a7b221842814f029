// FashionTrain
